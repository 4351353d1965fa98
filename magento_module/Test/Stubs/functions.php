<?php
// Test stand-in for Magento's global __() (app/functions.php): a Phrase of the text and its arguments.
declare(strict_types=1);

if (!function_exists('__')) {
    function __($text, ...$arguments): \Magento\Framework\Phrase
    {
        if (isset($arguments[0]) && is_array($arguments[0])) {
            $arguments = $arguments[0];
        }

        return new \Magento\Framework\Phrase($text, $arguments);
    }
}

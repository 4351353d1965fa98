<?php
// Test stand-in for Magento\Framework\Exception\LocalizedException (message from a Phrase).
declare(strict_types=1);

namespace Magento\Framework\Exception;

use Magento\Framework\Phrase;

class LocalizedException extends \Exception
{
    public function __construct(Phrase $phrase, ?\Exception $cause = null, $code = 0)
    {
        parent::__construct($phrase->render(), (int) $code, $cause);
    }
}

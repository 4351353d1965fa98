<?php
/**
 * Test autoloader: the module (RefundBridge\Outbox\ => module root, including Test/) and the
 * Magento stand-ins (Magento\ => Test/Stubs/Magento/), plus Magento's global __()
 * (Test/Stubs/functions.php). Used by the PHPUnit bootstrap and by Test/bin/observe.php; loads
 * no PHPUnit class and touches no database.
 */
declare(strict_types=1);

(static function (string $moduleDir): void {
    spl_autoload_register(static function (string $class) use ($moduleDir): void {
        $map = [
            'RefundBridge\\Outbox\\' => $moduleDir . '/',
            'Magento\\' => $moduleDir . '/Test/Stubs/Magento/',
            'Psr\\' => $moduleDir . '/Test/Stubs/Psr/',
            'Ess\\M2ePro\\' => $moduleDir . '/Test/Stubs/Ess/M2ePro/',
        ];
        foreach ($map as $prefix => $dir) {
            if (strncmp($class, $prefix, strlen($prefix)) === 0) {
                $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
                if (is_file($file)) {
                    require $file;
                }

                return;
            }
        }
    });
})(dirname(__DIR__));

require __DIR__ . '/Stubs/functions.php';

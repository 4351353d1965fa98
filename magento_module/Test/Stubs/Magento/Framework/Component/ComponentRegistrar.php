<?php
// Test stand-in for Magento\Framework\Component\ComponentRegistrar.
declare(strict_types=1);

namespace Magento\Framework\Component;

class ComponentRegistrar
{
    public const MODULE = 'module';

    /** @var array<string, array<string, string>> */
    public static array $paths = [];

    public static function register($type, $componentName, $path): void
    {
        self::$paths[$type][$componentName] = $path;
    }
}

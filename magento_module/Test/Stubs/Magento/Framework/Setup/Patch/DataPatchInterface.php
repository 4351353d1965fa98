<?php
// Test stand-in for Magento\Framework\Setup\Patch\DataPatchInterface (+ PatchInterface methods).
declare(strict_types=1);

namespace Magento\Framework\Setup\Patch;

interface DataPatchInterface
{
    public static function getDependencies();

    public function getAliases();

    public function apply();
}

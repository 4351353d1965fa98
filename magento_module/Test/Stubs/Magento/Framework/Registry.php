<?php
// Test stand-in for Magento\Framework\Registry (registry()/register()/unregister(), as M2E Pro's
// Helper\Data\GlobalData uses it with keys "m2epro_extension_<key>").
declare(strict_types=1);

namespace Magento\Framework;

class Registry
{
    /** @var array<string, mixed> */
    private array $registry = [];

    /** @return mixed */
    public function registry($key)
    {
        return $this->registry[$key] ?? null;
    }

    public function register($key, $value, $graceful = false): void
    {
        if (isset($this->registry[$key])) {
            if ($graceful) {
                return;
            }
            throw new \RuntimeException('Registry key "' . $key . '" already exists');
        }
        $this->registry[$key] = $value;
    }

    public function unregister($key): void
    {
        unset($this->registry[$key]);
    }
}

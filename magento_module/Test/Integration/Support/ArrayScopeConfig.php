<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration\Support;

use Magento\Framework\App\Config\ScopeConfigInterface;

/**
 * ScopeConfigInterface seeded with the module's etc/config.xml defaults; set() overrides a path
 * at default scope or for one store ("store", id).
 */
final class ArrayScopeConfig implements ScopeConfigInterface
{
    /** @var array<string, mixed> */
    private array $default;
    /** @var array<string, array<string, mixed>> scope key "store:1" => path => value */
    private array $scoped = [];

    public function __construct()
    {
        $xml = simplexml_load_file(dirname(__DIR__, 3) . '/etc/config.xml');
        $this->default = [];
        foreach ($xml->default->children() as $section) {
            foreach ($section->children() as $group) {
                foreach ($group->children() as $field) {
                    $this->default[$section->getName() . '/' . $group->getName() . '/' . $field->getName()] = (string) $field;
                }
            }
        }
    }

    /** @param mixed $value */
    public function set(string $path, $value, string $scopeType = self::SCOPE_TYPE_DEFAULT, $scopeCode = null): self
    {
        if ($scopeType === self::SCOPE_TYPE_DEFAULT) {
            $this->default[$path] = $value;
        } else {
            $this->scoped[$scopeType . ':' . $scopeCode][$path] = $value;
        }

        return $this;
    }

    public function getValue($path, $scopeType = self::SCOPE_TYPE_DEFAULT, $scopeCode = null)
    {
        $key = $scopeType . ':' . $scopeCode;
        if ($scopeType !== self::SCOPE_TYPE_DEFAULT && array_key_exists($path, $this->scoped[$key] ?? [])) {
            return $this->scoped[$key][$path];
        }

        return $this->default[$path] ?? null;
    }

    public function isSetFlag($path, $scopeType = self::SCOPE_TYPE_DEFAULT, $scopeCode = null)
    {
        return (bool) $this->getValue($path, $scopeType, $scopeCode);
    }
}

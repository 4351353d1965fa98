<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use Magento\Framework\Component\ComponentRegistrar;
use Magento\Framework\Event\ObserverInterface;
use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Model\Config;

/**
 * Semantic checks the XSDs cannot make: registration, observer classes, config paths/defaults.
 * No database needed.
 */
final class ModuleConfigurationTest extends TestCase
{
    private const MODULE_DIR = __DIR__ . '/../..';

    public function testRegistrationRegistersTheModule(): void
    {
        require self::MODULE_DIR . '/registration.php';
        $this->assertSame(
            realpath(self::MODULE_DIR),
            realpath(ComponentRegistrar::$paths[ComponentRegistrar::MODULE]['RefundBridge_Outbox'])
        );
        $module = simplexml_load_file(self::MODULE_DIR . '/etc/module.xml');
        $this->assertSame('RefundBridge_Outbox', (string) $module->module['name']);
        $this->assertSame('Magento_Sales', (string) $module->module->sequence->module['name']);
    }

    public function testComposerJson(): void
    {
        $composer = json_decode(file_get_contents(self::MODULE_DIR . '/composer.json'), true, 512, JSON_THROW_ON_ERROR);
        $this->assertSame('refund-bridge/module-outbox', $composer['name']);
        $this->assertSame('magento2-module', $composer['type']);
        $this->assertArrayHasKey('magento/framework', $composer['require']);
        $this->assertArrayHasKey('magento/module-sales', $composer['require']);
        $this->assertSame(['registration.php'], $composer['autoload']['files']);
        $this->assertSame('', $composer['autoload']['psr-4']['RefundBridge\\Outbox\\']);
    }

    public function testEventsXmlPointsAtExistingObservers(): void
    {
        $events = simplexml_load_file(self::MODULE_DIR . '/etc/events.xml');
        $found = [];
        foreach ($events->event as $event) {
            foreach ($event->observer as $observer) {
                $class = (string) $observer['instance'];
                $this->assertTrue(class_exists($class), $class);
                $this->assertContains(ObserverInterface::class, class_implements($class));
                $found[(string) $event['name']] = $class;
            }
        }
        $this->assertSame([
            'sales_order_creditmemo_save_after' => 'RefundBridge\Outbox\Observer\CreditmemoSaveObserver',
            'sales_order_shipment_save_after' => 'RefundBridge\Outbox\Observer\ShipmentSaveObserver',
        ], $found);
    }

    public function testSystemXmlFieldsAndConfigXmlDefaultsMatchConfigPaths(): void
    {
        $system = simplexml_load_file(self::MODULE_DIR . '/etc/adminhtml/system.xml');
        $paths = [];
        foreach ($system->system->section as $section) {
            $this->assertSame('Amazon Refund Bridge', (string) $section->label);
            $this->assertSame('RefundBridge_Outbox::config', (string) $section->resource);
            foreach ($section->group as $group) {
                foreach ($group->field as $field) {
                    $paths[] = $section['id'] . '/' . $group['id'] . '/' . $field['id'];
                }
            }
        }
        $this->assertSame([Config::XML_PATH_ENABLED, Config::XML_PATH_AMAZON_ORDER_ID_PATTERN], $paths);

        $config = simplexml_load_file(self::MODULE_DIR . '/etc/config.xml');
        $this->assertSame('1', (string) $config->default->refund_bridge->general->enabled);
        $this->assertSame(
            Config::DEFAULT_AMAZON_ORDER_ID_PATTERN,
            (string) $config->default->refund_bridge->general->amazon_order_id_pattern
        );
        $this->assertSame('^\d{3}-\d{7}-\d{7}$', Config::DEFAULT_AMAZON_ORDER_ID_PATTERN);

        $acl = file_get_contents(self::MODULE_DIR . '/etc/acl.xml');
        $this->assertStringContainsString('id="RefundBridge_Outbox::config"', $acl);
    }
}

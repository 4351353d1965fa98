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
        // A version and real, stable constraints covering Magento 2.4.4 (framework 103.0.4) to 2.4.8.
        $this->assertMatchesRegularExpression('/^\d+\.\d+\.\d+$/', $composer['version']);
        foreach ([
            'magento/framework' => '103.0.', 'magento/module-sales' => '103.0.', 'magento/module-config' => '101.2.',
            'magento/module-backend' => '102.0.', 'magento/module-store' => '101.1.',
        ] as $package => $series) {
            $this->assertArrayHasKey($package, $composer['require']);
            $this->assertSame('^' . $series . '4', $composer['require'][$package], $package);
        }
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
            'sales_order_shipment_track_save_after' => 'RefundBridge\Outbox\Observer\ShipmentTrackSaveObserver',
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
        $this->assertSame([
            Config::XML_PATH_ENABLED, Config::XML_PATH_AMAZON_ORDER_ID_PATTERN,
            'refund_bridge/resolver/m2epro_payment', 'refund_bridge/resolver/m2epro_order',
            'refund_bridge/resolver/ext_order_id', 'refund_bridge/resolver/increment_id',
            Config::XML_PATH_INCREMENT_ID_PREFIX,
        ], $paths);
        // Defaults: M2E Pro's sources and ext_order_id on, increment_id off.
        $resolver = simplexml_load_file(self::MODULE_DIR . '/etc/config.xml')->default->refund_bridge->resolver;
        $this->assertSame(['1', '1', '1', '0', ''], [
            (string) $resolver->m2epro_payment, (string) $resolver->m2epro_order,
            (string) $resolver->ext_order_id, (string) $resolver->increment_id, (string) $resolver->increment_id_prefix,
        ]);
        // di.xml lists the sources in the documented order, keyed by their codes.
        $di = simplexml_load_file(self::MODULE_DIR . '/etc/di.xml');
        $codes = [];
        foreach ($di->xpath('//argument[@name="sources"]/item') as $item) {
            $class = trim((string) $item);
            $this->assertSame((string) $item['name'], (new \ReflectionClass($class))->getConstant('CODE'));
            $codes[] = (string) $item['name'];
        }
        $this->assertSame(['m2epro_payment', 'm2epro_order', 'ext_order_id', 'increment_id'], $codes);
        $pattern = $system->xpath('//field[@id="amazon_order_id_pattern"]/backend_model');
        $this->assertSame(\RefundBridge\Outbox\Model\Config\Backend\AmazonOrderIdPattern::class, trim((string) $pattern[0]));

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

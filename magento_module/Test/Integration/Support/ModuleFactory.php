<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration\Support;

use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Registry;
use Psr\Log\LoggerInterface;
use RefundBridge\Outbox\Model\Config;
use RefundBridge\Outbox\Model\M2ePro\ConnectorReader;
use RefundBridge\Outbox\Model\M2ePro\OriginDetector;
use RefundBridge\Outbox\Model\M2ePro\Tables;
use RefundBridge\Outbox\Model\OutboxWriter;
use RefundBridge\Outbox\Model\Resolver\AmazonOrderResolver;
use RefundBridge\Outbox\Model\Resolver\ExtOrderIdSource;
use RefundBridge\Outbox\Model\Resolver\IncrementIdSource;
use RefundBridge\Outbox\Model\Resolver\M2eProOrderSource;
use RefundBridge\Outbox\Model\Resolver\M2eProPaymentSource;
use RefundBridge\Outbox\Model\SnapshotBuilder;

/**
 * Wires the module as Magento's object manager does from etc/di.xml (the sources in di.xml's
 * order), for tests and Test/bin/observe.php.
 */
final class ModuleFactory
{
    public static function writer(
        ResourceConnection $resource,
        ScopeConfigInterface $scopeConfig,
        ?LoggerInterface $logger = null,
        ?Registry $registry = null
    ): OutboxWriter {
        $config = new Config($scopeConfig);
        $logger ??= new ArrayLogger();

        return new OutboxWriter(
            $resource,
            $config,
            new SnapshotBuilder($resource),
            self::resolver($resource, $config, $logger),
            new OriginDetector($registry ?? new Registry()),
            $logger
        );
    }

    public static function resolver(ResourceConnection $resource, Config $config, LoggerInterface $logger): AmazonOrderResolver
    {
        $tables = new Tables($resource);
        $sources = [];
        $xml = simplexml_load_file(dirname(__DIR__, 3) . '/etc/di.xml');
        $classes = [
            M2eProPaymentSource::class => static fn () => new M2eProPaymentSource(),
            M2eProOrderSource::class => static fn () => new M2eProOrderSource($tables),
            ExtOrderIdSource::class => static fn () => new ExtOrderIdSource($config),
            IncrementIdSource::class => static fn () => new IncrementIdSource($config),
        ];
        foreach ($xml->xpath('//argument[@name="sources"]/item') as $item) {
            $sources[(string) $item['name']] = $classes[trim((string) $item)]();
        }

        return new AmazonOrderResolver($config, $sources, new ConnectorReader($tables), $logger);
    }
}

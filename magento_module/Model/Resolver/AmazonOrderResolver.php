<?php
/**
 * Finds the Amazon order id of a Magento order: tries the sources of etc/di.xml in order
 * (M2E Pro payment, M2E Pro link tables, ext_order_id pattern, increment_id prefix), each only
 * when switched on for the order's store. Never throws: a source that fails (invalid pattern,
 * unreadable table) is logged and skipped, so a save of an order that is not bridged never fails.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

use Magento\Sales\Model\Order;
use Psr\Log\LoggerInterface;
use RefundBridge\Outbox\Model\AmazonOrderIdPattern;
use RefundBridge\Outbox\Model\Config;
use RefundBridge\Outbox\Model\M2ePro\ConnectorReader;

class AmazonOrderResolver
{
    private Config $config;
    /** @var list<SourceInterface> */
    private array $sources;
    private ConnectorReader $connectorReader;
    private LoggerInterface $logger;

    /**
     * @param array<string, SourceInterface> $sources in the order they are tried (etc/di.xml)
     */
    public function __construct(Config $config, array $sources, ConnectorReader $connectorReader, LoggerInterface $logger)
    {
        $this->config = $config;
        $this->sources = array_values($sources);
        $this->connectorReader = $connectorReader;
        $this->logger = $logger;
    }

    /**
     * @return Resolution|null null when the order is not an Amazon order (no row is written)
     */
    public function resolve(Order $order): ?Resolution
    {
        $storeId = self::storeId($order);
        $found = null;
        foreach ($this->sources as $source) {
            if (!$this->config->isSourceEnabled($source->getCode(), $storeId)) {
                continue;
            }
            $id = $this->attempt($order, $source->getCode(), fn () => $source->resolve($order));
            if ($id !== null) {
                $found = new Resolution($id, $source->getCode(), null);
                break;
            }
        }
        $connector = $this->connector($order, $storeId);
        if ($found !== null) {
            $found->connector = $connector;

            return $found;
        }
        $ext = $order->getExtOrderId();
        if ($connector !== null || AmazonOrderIdPattern::looksLikeAmazon($ext === null ? null : (string) $ext)) {
            // Amazon, but no source gave its id: the row lets the sidecar say why nothing is sent.
            return new Resolution(null, null, $connector);
        }

        return null;
    }

    public static function storeId(Order $order): ?int
    {
        $storeId = $order->getStoreId();

        return $storeId === null || $storeId === '' ? null : (int) $storeId;
    }

    /**
     * @return array{name: string, account_id: ?int, refunds_on_creditmemo: ?bool}|null
     */
    private function connector(Order $order, ?int $storeId): ?array
    {
        if (!$this->config->isSourceEnabled(M2eProPaymentSource::CODE, $storeId)
            && !$this->config->isSourceEnabled(M2eProOrderSource::CODE, $storeId)
        ) {
            return null;
        }

        return $this->attempt($order, 'M2E Pro link', fn () => $this->connectorReader->read($order));
    }

    /**
     * @template T
     * @param callable(): T $read
     * @return T|null
     */
    private function attempt(Order $order, string $what, callable $read)
    {
        try {
            return $read();
        } catch (\Throwable $e) {
            $this->logger->error(sprintf(
                'Amazon Refund Bridge: %s could not be read for order #%s (entity %s); skipped: %s',
                $what,
                (string) $order->getIncrementId(),
                (string) $order->getEntityId(),
                $e->getMessage()
            ), ['exception' => $e]);

            return null;
        }
    }
}

<?php
/**
 * sales_order.increment_id = configured prefix + Amazon order id, for importers that number the
 * Magento order after the Amazon order (off by default: refund_bridge/resolver/increment_id).
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

use Magento\Sales\Model\Order;
use RefundBridge\Outbox\Model\AmazonOrderIdPattern;
use RefundBridge\Outbox\Model\Config;

class IncrementIdSource implements SourceInterface
{
    public const CODE = 'increment_id';

    private Config $config;

    public function __construct(Config $config)
    {
        $this->config = $config;
    }

    public function getCode(): string
    {
        return self::CODE;
    }

    public function resolve(Order $order): ?string
    {
        $incrementId = (string) $order->getIncrementId();
        $prefix = $this->config->getIncrementIdPrefix(AmazonOrderResolver::storeId($order));
        if ($prefix !== '' && strncmp($incrementId, $prefix, strlen($prefix)) !== 0) {
            return null;
        }
        $id = substr($incrementId, strlen($prefix));

        return AmazonOrderIdPattern::isAmazonOrderId($id) ? $id : null;
    }
}

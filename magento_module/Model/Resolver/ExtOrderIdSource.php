<?php
/**
 * sales_order.ext_order_id matched by the configured pattern (refund_bridge/general/
 * amazon_order_id_pattern): the first capture group, or the whole match, is the Amazon order id.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

use Magento\Sales\Model\Order;
use RefundBridge\Outbox\Model\Config;

class ExtOrderIdSource implements SourceInterface
{
    public const CODE = 'ext_order_id';

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
        $ext = $order->getExtOrderId();

        return $this->config->matchAmazonOrderId($ext === null ? null : (string) $ext, AmazonOrderResolver::storeId($order));
    }
}

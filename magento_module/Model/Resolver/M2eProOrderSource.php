<?php
/**
 * M2E Pro's link tables: m2epro_order.magento_order_id (component_mode "amazon") ->
 * m2epro_amazon_order.amazon_order_id (order_id = m2epro_order.id). Skipped when M2E Pro's
 * tables do not exist.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

use Magento\Sales\Model\Order;
use RefundBridge\Outbox\Model\M2ePro\Tables;

class M2eProOrderSource implements SourceInterface
{
    public const CODE = 'm2epro_order';

    private Tables $tables;

    public function __construct(Tables $tables)
    {
        $this->tables = $tables;
    }

    public function getCode(): string
    {
        return self::CODE;
    }

    public function resolve(Order $order): ?string
    {
        $link = $this->tables->findAmazonOrder((int) $order->getEntityId());

        return $link === null ? null : $link['amazon_order_id'];
    }
}

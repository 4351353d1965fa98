<?php
/**
 * One place an importer keeps the Amazon order id. Sources are listed in etc/di.xml, in the
 * order they are tried, and each is switched per store (refund_bridge/resolver/<code>).
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

use Magento\Sales\Model\Order;

interface SourceInterface
{
    /** The value of order.amazon_order_id_source when this source finds the id. */
    public function getCode(): string;

    /**
     * @return string|null the Amazon order id, or null when this source knows nothing of the order
     */
    public function resolve(Order $order): ?string;
}

<?php
/**
 * sales_order_shipment_save_after: queue the shipment of an Amazon order in the outbox.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Observer;

use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Sales\Model\Order\Shipment;
use RefundBridge\Outbox\Model\OutboxWriter;

class ShipmentSaveObserver implements ObserverInterface
{
    private OutboxWriter $outboxWriter;

    public function __construct(OutboxWriter $outboxWriter)
    {
        $this->outboxWriter = $outboxWriter;
    }

    public function execute(Observer $observer): void
    {
        /** @var Shipment $shipment */
        $shipment = $observer->getEvent()->getShipment();
        $this->outboxWriter->writeShipment($shipment);
    }
}

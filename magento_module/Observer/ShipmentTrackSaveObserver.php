<?php
/**
 * sales_order_shipment_track_save_after: a track added after its shipment was saved (admin
 * "Add tracking", REST POST /V1/shipment/track) fires no shipment save, only this event
 * (Track's event prefix "sales_order_shipment_track", event object "track"). Queue a "track"
 * row so the sidecar updates the package on Amazon.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Observer;

use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Sales\Model\Order\Shipment\Track;
use RefundBridge\Outbox\Model\OutboxWriter;

class ShipmentTrackSaveObserver implements ObserverInterface
{
    private OutboxWriter $outboxWriter;

    public function __construct(OutboxWriter $outboxWriter)
    {
        $this->outboxWriter = $outboxWriter;
    }

    public function execute(Observer $observer): void
    {
        /** @var Track $track */
        $track = $observer->getEvent()->getTrack();
        $this->outboxWriter->writeTrack($track);
    }
}

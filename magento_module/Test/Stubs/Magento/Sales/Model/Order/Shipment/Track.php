<?php
// Test stand-in for Magento\Sales\Model\Order\Shipment\Track (event prefix
// "sales_order_shipment_track", event object "track"; getShipment() returns the shipment the
// track was added to, else Magento loads it by parent_id through the shipment repository).
declare(strict_types=1);

namespace Magento\Sales\Model\Order\Shipment;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order\Shipment;

class Track extends DataObject
{
    private bool $deleted = false;

    public function getCarrierCode(): ?string
    {
        return $this->getData('carrier_code');
    }

    public function getTitle(): ?string
    {
        return $this->getData('title');
    }

    public function getTrackNumber(): ?string
    {
        return $this->getData('track_number');
    }

    public function getShipment(): Shipment
    {
        return $this->getData('shipment');
    }

    /** Magento\Framework\Model\AbstractModel::isDeleted(): get, or set with an argument. */
    public function isDeleted($isDeleted = null): bool
    {
        if ($isDeleted !== null) {
            $this->deleted = (bool) $isDeleted;
        }

        return $this->deleted;
    }
}

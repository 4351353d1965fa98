<?php
// Test stand-in for Magento\Sales\Model\Order\Shipment\Track.
declare(strict_types=1);

namespace Magento\Sales\Model\Order\Shipment;

use Magento\Framework\DataObject;

class Track extends DataObject
{
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
}

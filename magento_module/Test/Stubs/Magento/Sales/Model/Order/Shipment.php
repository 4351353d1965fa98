<?php
// Test stand-in for Magento\Sales\Model\Order\Shipment.
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order;

class Shipment extends DataObject
{
    public function getOrder(): Order
    {
        return $this->getData('order');
    }

    /** @return list<Shipment\Item> */
    public function getAllItems(): array
    {
        return $this->getData('items') ?? [];
    }

    /** @return list<Shipment\Track> */
    public function getAllTracks(): array
    {
        return $this->getData('tracks') ?? [];
    }
}

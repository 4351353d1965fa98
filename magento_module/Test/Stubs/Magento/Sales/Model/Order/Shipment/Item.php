<?php
// Test stand-in for Magento\Sales\Model\Order\Shipment\Item.
declare(strict_types=1);

namespace Magento\Sales\Model\Order\Shipment;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order\Item as OrderItem;

class Item extends DataObject
{
    public function getOrderItem(): ?OrderItem
    {
        return $this->getData('order_item');
    }
}

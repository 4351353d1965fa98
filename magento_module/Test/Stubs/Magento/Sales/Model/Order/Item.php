<?php
// Test stand-in for Magento\Sales\Model\Order\Item (getAdditionalData() is the raw
// sales_order_item.additional_data text; getParentItem() the parent item model or null).
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;

class Item extends DataObject
{
    public function getParentItem(): ?Item
    {
        $parent = $this->getData('parent_item');

        return $parent instanceof Item ? $parent : null;
    }
}

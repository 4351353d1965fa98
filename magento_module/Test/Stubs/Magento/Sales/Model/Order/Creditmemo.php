<?php
// Test stand-in for Magento\Sales\Model\Order\Creditmemo.
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order;

class Creditmemo extends DataObject
{
    public function getOrder(): Order
    {
        return $this->getData('order');
    }

    /** @return list<Creditmemo\Item> */
    public function getAllItems(): array
    {
        return $this->getData('items') ?? [];
    }
}

<?php
// Test stand-in for Magento\Sales\Model\Order\Item.
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;

class Item extends DataObject
{
}

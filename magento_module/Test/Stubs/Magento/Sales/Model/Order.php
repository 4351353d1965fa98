<?php
// Test stand-in for Magento\Sales\Model\Order (getExtOrderId(), getStoreId(), ... via DataObject).
declare(strict_types=1);

namespace Magento\Sales\Model;

use Magento\Framework\DataObject;

class Order extends DataObject
{
}

<?php
// Test stand-in for Magento\Sales\Model\Order (getExtOrderId(), getStoreId(), ... via DataObject).
declare(strict_types=1);

namespace Magento\Sales\Model;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order\Payment;

class Order extends DataObject
{
    /** Magento: the first non-deleted payment of getPaymentsCollection(); false when there is none. */
    public function getPayment()
    {
        return $this->getData('payment') instanceof Payment ? $this->getData('payment') : false;
    }
}

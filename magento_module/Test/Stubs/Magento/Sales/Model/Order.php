<?php
// Test stand-in for Magento\Sales\Model\Order (getExtOrderId(), getStoreId(), ... via DataObject; Magento's state/status constants).
declare(strict_types=1);

namespace Magento\Sales\Model;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order\Payment;

class Order extends DataObject
{
    public const STATE_NEW = 'new';
    public const STATE_PROCESSING = 'processing';
    public const STATE_COMPLETE = 'complete';
    public const STATE_CLOSED = 'closed';
    public const STATE_CANCELED = 'canceled';
    public const STATE_PAYMENT_REVIEW = 'payment_review';
    public const STATUS_FRAUD = 'fraud';

    /** Magento: the first non-deleted payment of getPaymentsCollection(); false when there is none. */
    public function getPayment()
    {
        return $this->getData('payment') instanceof Payment ? $this->getData('payment') : false;
    }
}

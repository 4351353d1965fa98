<?php
// Test stand-in for Magento\Sales\Model\Order\Payment: getMethod() and getAdditionalInformation()
// (Magento\Payment\Model\Info: the whole array, or one key's value or null).
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;

class Payment extends DataObject
{
    public function getMethod()
    {
        return $this->getData('method');
    }

    /** @return mixed */
    public function getAdditionalInformation($key = null)
    {
        $info = $this->getData('additional_information');
        if (!is_array($info)) {
            $info = [];
        }
        if ($key === null) {
            return $info;
        }

        return $info[$key] ?? null;
    }
}

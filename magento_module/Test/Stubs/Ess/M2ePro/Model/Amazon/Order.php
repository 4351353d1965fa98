<?php
// Test stand-in for M2E Pro's Ess\M2ePro\Model\Amazon\Order: createCreditMemo() builds a credit
// memo of the whole order with every item back to stock and refunds it
// (CreditmemoFactory::createByOrder() + CreditmemoService::refund(), which saves it); here the
// save is the callable the test passes, so the call stack is M2E Pro's as in the real module.
declare(strict_types=1);

namespace Ess\M2ePro\Model\Amazon;

class Order
{
    /** @param callable(): mixed $creditmemoServiceRefund */
    public function createCreditMemo(callable $creditmemoServiceRefund)
    {
        return $creditmemoServiceRefund();
    }
}

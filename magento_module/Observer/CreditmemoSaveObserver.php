<?php
/**
 * sales_order_creditmemo_save_after: queue the credit memo of an Amazon order in the outbox.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Observer;

use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Sales\Model\Order\Creditmemo;
use RefundBridge\Outbox\Model\OutboxWriter;

class CreditmemoSaveObserver implements ObserverInterface
{
    private OutboxWriter $outboxWriter;

    public function __construct(OutboxWriter $outboxWriter)
    {
        $this->outboxWriter = $outboxWriter;
    }

    public function execute(Observer $observer): void
    {
        /** @var Creditmemo $creditmemo */
        $creditmemo = $observer->getEvent()->getCreditmemo();
        $this->outboxWriter->writeCreditmemo($creditmemo);
    }
}

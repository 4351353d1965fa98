<?php
/**
 * The snapshot's order.connector for an order linked to M2E Pro (its payment is M2E Pro's
 * Amazon payment, or m2epro_order links it): M2E's account id and whether that account refunds
 * on credit memo by itself ("Cancel or Refund if Credit Memo is Created"), as read now.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\M2ePro;

use Magento\Sales\Model\Order;
use RefundBridge\Outbox\Model\Resolver\M2eProPaymentSource;

class ConnectorReader
{
    public const NAME = 'm2epro';

    private Tables $tables;

    public function __construct(Tables $tables)
    {
        $this->tables = $tables;
    }

    /**
     * @return array{name: string, account_id: ?int, refunds_on_creditmemo: ?bool}|null
     */
    public function read(Order $order): ?array
    {
        $link = $this->tables->findAmazonOrder((int) $order->getEntityId());
        if ($link === null && M2eProPaymentSource::amazonPaymentInfo($order) === null) {
            return null;
        }
        $accountId = $link['account_id'] ?? null;

        return [
            'name' => self::NAME,
            'account_id' => $accountId,
            'refunds_on_creditmemo' => $accountId === null ? null : $this->refunds($accountId),
        ];
    }

    /** The account's setting, and false while M2E Pro's Amazon part is switched off. */
    private function refunds(int $accountId): ?bool
    {
        if ($this->tables->amazonComponentEnabled() === false) {
            return false;
        }

        return $this->tables->refundsOnCreditmemo($accountId);
    }
}

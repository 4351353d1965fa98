<?php
/**
 * M2E Pro's payment: method "m2epropayment" (Ess\M2ePro\Model\Magento\Payment::$_code) keeps
 * the channel order in additional_information: "component_mode" ("amazon", "ebay", "walmart")
 * and "channel_order_id" (Payment::assignData()). The payment is in memory with the order.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Resolver;

use Magento\Sales\Model\Order;

class M2eProPaymentSource implements SourceInterface
{
    public const CODE = 'm2epro_payment';
    public const PAYMENT_METHOD = 'm2epropayment';

    public function getCode(): string
    {
        return self::CODE;
    }

    public function resolve(Order $order): ?string
    {
        $info = self::amazonPaymentInfo($order);
        $id = $info['channel_order_id'] ?? null;

        return is_scalar($id) && trim((string) $id) !== '' ? trim((string) $id) : null;
    }

    /**
     * additional_information of an M2E Pro payment of an Amazon order, else null.
     *
     * @return array<string, mixed>|null
     */
    public static function amazonPaymentInfo(Order $order): ?array
    {
        $payment = $order->getPayment();
        if (!$payment || $payment->getMethod() !== self::PAYMENT_METHOD) {
            return null;
        }
        $info = $payment->getAdditionalInformation();
        if (!is_array($info) || ($info['component_mode'] ?? null) !== 'amazon') {
            return null;
        }

        return $info;
    }
}

<?php
/**
 * The Amazon OrderItemId M2E Pro keeps per Magento order item: sales_order_item.additional_data
 * = {"m2epro_extension": {"items": [{"order_item_id": "..."}], ...}} (Ess\M2ePro\Model\Amazon\
 * Order\Item\ProxyObject::getAdditionalData(), Helper\Data::CUSTOM_IDENTIFIER; the quote item's
 * additional_data is copied to the order item). JSON since Magento 2.2; M2E Pro on Magento
 * before 2.4.3 may have written PHP serialize() (Helper\Data::unserialize()).
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\M2ePro;

use Magento\Sales\Model\Order\Item as OrderItem;

final class OrderItemIds
{
    public const KEY = 'm2epro_extension';

    /**
     * The item's OrderItemId; a configurable child without its own data uses its parent's.
     * Null when unknown or when M2E merged several Amazon order items into this Magento item
     * (ProxyObject::merge() appends to items[]): then the sidecar matches by SKU.
     */
    public static function forItem(?OrderItem $item): ?string
    {
        if ($item === null) {
            return null;
        }
        $ids = self::fromAdditionalData($item->getData('additional_data'));
        if ($ids === [] && $item->getParentItem() !== null) {
            $ids = self::fromAdditionalData($item->getParentItem()->getData('additional_data'));
        }

        return count($ids) === 1 ? $ids[0] : null;
    }

    /**
     * @param mixed $raw
     * @return list<string> distinct OrderItemIds
     */
    public static function fromAdditionalData($raw): array
    {
        $data = self::decode($raw);
        $items = $data[self::KEY]['items'] ?? null;
        if (!is_array($items)) {
            return [];
        }
        $ids = [];
        foreach ($items as $entry) {
            $id = is_array($entry) ? ($entry['order_item_id'] ?? null) : null;
            if (is_scalar($id) && trim((string) $id) !== '') {
                $ids[trim((string) $id)] = true;
            }
        }

        return array_map('strval', array_keys($ids));
    }

    /**
     * @param mixed $raw
     * @return array<mixed>
     */
    private static function decode($raw): array
    {
        if (is_array($raw)) {
            return $raw;
        }
        if (!is_string($raw) || $raw === '') {
            return [];
        }
        if (preg_match('/^(a|O|C):\d+:/', $raw)) {
            $value = @unserialize($raw, ['allowed_classes' => false]);

            return is_array($value) ? $value : [];
        }
        $value = json_decode($raw, true);

        return is_array($value) ? $value : [];
    }
}

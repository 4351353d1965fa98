<?php
/**
 * Builds the outbox JSON snapshot (docs/snapshot.md, schema_version 2) from the in-memory
 * credit memo / shipment that Magento is saving. Money and quantities stay decimal strings.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

use Magento\Framework\App\ResourceConnection;
use Magento\Sales\Model\Order;
use Magento\Sales\Model\Order\Creditmemo;
use Magento\Sales\Model\Order\Creditmemo\Item as CreditmemoItem;
use Magento\Sales\Model\Order\Item as OrderItem;
use Magento\Sales\Model\Order\Shipment;
use Magento\Sales\Model\Order\Shipment\Item as ShipmentItem;
use Magento\Sales\Model\Order\Shipment\Track;
use RefundBridge\Outbox\Model\M2ePro\OrderItemIds;
use RefundBridge\Outbox\Model\Resolver\Resolution;

class SnapshotBuilder
{
    public const SCHEMA_VERSION = 2;

    private ResourceConnection $resource;

    public function __construct(ResourceConnection $resource)
    {
        $this->resource = $resource;
    }

    /**
     * @return array<string, mixed>
     */
    public function forCreditmemo(Creditmemo $creditmemo, Resolution $resolution, ?string $createdBy = null): array
    {
        $restockKnown = self::restockKnown($creditmemo);
        $items = [];
        /** @var CreditmemoItem $item */
        foreach ($creditmemo->getAllItems() as $item) {
            $qty = DecimalString::normalize($item->getData('qty'));
            if (self::isZero($qty)) {
                continue;
            }
            $orderItem = $item->getOrderItem();
            $items[] = [
                'entity_id' => self::toInt($item->getData('entity_id')),
                'order_item_id' => self::toInt($item->getData('order_item_id')),
                'parent_item_id' => $orderItem ? self::toInt($orderItem->getData('parent_item_id')) : null,
                'sku' => self::toString($item->getData('sku')),
                'name' => self::toString($item->getData('name')),
                'product_type' => $orderItem ? self::toString($orderItem->getData('product_type')) : null,
                'ext_order_item_id' => $orderItem ? self::toString($orderItem->getData('ext_order_item_id')) : null,
                'qty' => $qty,
                'price' => DecimalString::normalize($item->getData('price')),
                'price_incl_tax' => DecimalString::normalize($item->getData('price_incl_tax')),
                'row_total' => DecimalString::normalize($item->getData('row_total')),
                'row_total_incl_tax' => DecimalString::normalize($item->getData('row_total_incl_tax')),
                'tax_amount' => DecimalString::normalize($item->getData('tax_amount')),
                'discount_amount' => DecimalString::normalize($item->getData('discount_amount')),
                // "Return to Stock": set on the in-memory item by Magento, never stored in a table.
                'back_to_stock' => $restockKnown ? (bool) $item->getBackToStock() : null,
                'amazon_order_item_id' => OrderItemIds::forItem($orderItem),
                'qty_ordered' => $orderItem ? DecimalString::normalize($orderItem->getData('qty_ordered')) : null,
                'qty_shipped' => $orderItem ? DecimalString::normalize($orderItem->getData('qty_shipped')) : null,
                'qty_refunded' => $orderItem ? DecimalString::normalize($orderItem->getData('qty_refunded')) : null,
                'qty_canceled' => $orderItem ? DecimalString::normalize($orderItem->getData('qty_canceled')) : null,
            ];
        }

        $money = [];
        foreach ([
            'subtotal', 'subtotal_incl_tax', 'tax_amount', 'discount_amount',
            'shipping_amount', 'shipping_tax_amount', 'shipping_incl_tax',
            'adjustment_positive', 'adjustment_negative', 'grand_total',
        ] as $field) {
            $money[$field] = DecimalString::normalize($creditmemo->getData($field));
        }

        return [
            'schema_version' => self::SCHEMA_VERSION,
            'event_type' => OutboxWriter::EVENT_CREDITMEMO,
            'order' => $this->order($creditmemo->getOrder(), $resolution),
            'creditmemo' => [
                'entity_id' => self::toInt($creditmemo->getEntityId()),
                'increment_id' => self::toString($creditmemo->getIncrementId()),
                'created_at' => $this->createdAt($creditmemo->getCreatedAt(), 'sales_creditmemo', $creditmemo->getEntityId()),
                'order_currency_code' => self::toString($creditmemo->getData('order_currency_code')),
                'state' => self::toInt($this->column($creditmemo->getData('state'), 'state', 'sales_creditmemo', $creditmemo->getEntityId())),
                'created_by_connector' => $createdBy,
                'restock_known' => $restockKnown,
            ] + $money,
            'items' => $items,
        ];
    }

    /**
     * @return array<string, mixed>
     */
    public function forShipment(
        Shipment $shipment,
        Resolution $resolution,
        ?string $createdBy = null,
        string $eventType = OutboxWriter::EVENT_SHIPMENT,
        ?Track $savedTrack = null
    ): array {
        $items = [];
        /** @var ShipmentItem $item */
        foreach ($shipment->getAllItems() as $item) {
            $qty = DecimalString::normalize($item->getData('qty'));
            if (self::isZero($qty)) {
                continue;
            }
            $orderItem = $item->getOrderItem();
            $items[] = [
                'entity_id' => self::toInt($item->getData('entity_id')),
                'order_item_id' => self::toInt($item->getData('order_item_id')),
                'parent_item_id' => $orderItem ? self::toInt($orderItem->getData('parent_item_id')) : null,
                'sku' => self::toString($item->getData('sku')),
                'name' => self::toString($item->getData('name')),
                'ext_order_item_id' => $orderItem ? self::toString($orderItem->getData('ext_order_item_id')) : null,
                'amazon_order_item_id' => OrderItemIds::forItem($orderItem),
                'qty' => $qty,
            ];
        }

        $tracks = [];
        foreach (self::allTracks($shipment, $savedTrack) as $track) {
            $tracks[] = [
                'carrier_code' => self::toString($track->getCarrierCode()),
                'title' => self::toString($track->getTitle()),
                'track_number' => self::toString($track->getTrackNumber()),
            ];
        }

        return [
            'schema_version' => self::SCHEMA_VERSION,
            'event_type' => $eventType,
            'order' => $this->order($shipment->getOrder(), $resolution),
            'shipment' => [
                'entity_id' => self::toInt($shipment->getEntityId()),
                'increment_id' => self::toString($shipment->getIncrementId()),
                'created_at' => $this->createdAt($shipment->getCreatedAt(), 'sales_shipment', $shipment->getEntityId()),
                'created_by_connector' => $createdBy,
            ],
            'items' => $items,
            'tracks' => $tracks,
        ];
    }

    /**
     * @return array<string, mixed>
     */
    private function order(Order $order, Resolution $resolution): array
    {
        return [
            'entity_id' => self::toInt($order->getEntityId()),
            'increment_id' => self::toString($order->getIncrementId()),
            'ext_order_id' => self::toString($order->getExtOrderId()),
            'store_id' => self::toInt($order->getStoreId()),
            'order_currency_code' => self::toString($order->getOrderCurrencyCode()),
            'base_currency_code' => self::toString($order->getBaseCurrencyCode()),
            'state' => self::toString($order->getState()),
            'status' => self::toString($order->getStatus()),
            'amazon_order_id' => $resolution->amazonOrderId,
            'amazon_order_id_source' => $resolution->source,
            'connector' => $resolution->connector,
        ];
    }

    /**
     * The admin form (Controller\Adminhtml\Order\CreditmemoLoader::load()) sets back_to_stock on
     * every item, true or false. RefundOrderInterface (POST /V1/order/{id}/refund) builds the memo
     * with CreditmemoDocumentFactory::createFromOrder() and sets no flag: stock comes back after
     * the commit (SalesInventory's ReturnToStockOrder plugin, from return_to_stock_items), so
     * at save time the module cannot know per item: restock_known false.
     */
    private static function restockKnown(Creditmemo $creditmemo): bool
    {
        foreach ($creditmemo->getAllItems() as $item) {
            if ($item->getData('back_to_stock') === null && !self::isZero(DecimalString::normalize($item->getData('qty')))) {
                return false;
            }
        }

        return true;
    }

    /**
     * Magento 2.4 keeps two track lists: the tracks collection (getAllTracks(); admin form,
     * addTrack()) and the "tracks" data (getTracks(); POST /V1/shipment, ShipOrderInterface set
     * it through the hydrator and the relation saves it). Both, once each, plus the track being
     * saved (sales_order_shipment_track_save_after).
     *
     * @return list<Track>
     */
    private static function allTracks(Shipment $shipment, ?Track $savedTrack): array
    {
        $candidates = array_merge($shipment->getAllTracks(), array_values((array) ($shipment->getTracks() ?? [])));
        if ($savedTrack !== null) {
            $candidates[] = $savedTrack;
        }
        $tracks = [];
        $seen = [];
        foreach ($candidates as $track) {
            if (!$track instanceof Track || $track->isDeleted()) {
                continue;
            }
            $id = $track->getData('entity_id');
            $keys = ['o' . spl_object_id($track)];
            if ($id !== null && $id !== '') {
                $keys[] = 'e' . $id;
            }
            if (array_intersect($keys, array_keys($seen)) !== []) {
                continue;
            }
            foreach ($keys as $key) {
                $seen[$key] = true;
            }
            $tracks[] = $track;
        }

        return $tracks;
    }

    /**
     * created_at is filled by the column default (CURRENT_TIMESTAMP) when Magento does not set
     * it in memory; then read it back on the sales connection, inside the same transaction.
     *
     * @param mixed $inMemory
     * @param mixed $entityId
     */
    private function createdAt($inMemory, string $table, $entityId): ?string
    {
        return self::toString($this->column($inMemory, 'created_at', $table, $entityId));
    }

    /**
     * The in-memory value, else the just-inserted row's column (its DB default) read back on the
     * sales connection, inside the same transaction.
     *
     * @param mixed $inMemory
     * @param mixed $entityId
     * @return mixed
     */
    private function column($inMemory, string $column, string $table, $entityId)
    {
        if ($inMemory !== null && $inMemory !== '') {
            return $inMemory;
        }
        if ($entityId === null || $entityId === '') {
            return null;
        }
        $connection = $this->resource->getConnection(OutboxWriter::CONNECTION_NAME);
        $value = $connection->fetchOne(
            'SELECT ' . $connection->quoteIdentifier($column)
            . ' FROM ' . $connection->quoteIdentifier($this->resource->getTableName($table))
            . ' WHERE ' . $connection->quoteIdentifier('entity_id') . ' = ?',
            [(int) $entityId]
        );

        return $value === false ? null : $value;
    }

    private static function isZero(?string $decimal): bool
    {
        return $decimal === null || trim(str_replace(['-', '.'], '', $decimal), '0') === '';
    }

    /**
     * @param mixed $value
     */
    private static function toInt($value): ?int
    {
        if ($value === null || $value === '') {
            return null;
        }
        if (is_int($value)) {
            return $value;
        }
        if (is_string($value) && preg_match('/^-?\d+$/D', $value)) {
            return (int) $value;
        }
        if (is_float($value) && floor($value) === $value) {
            return (int) $value;
        }
        throw new \UnexpectedValueException('Amazon Refund Bridge: expected an integer id, got ' . var_export($value, true));
    }

    /**
     * @param mixed $value
     */
    private static function toString($value): ?string
    {
        if ($value === null) {
            return null;
        }
        if ($value instanceof \DateTimeInterface) {
            return $value->format('Y-m-d H:i:s');
        }

        return (string) $value;
    }
}

<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use RefundBridge\Outbox\Model\Config;

/**
 * sales_order_shipment_save_after -> refund_bridge_outbox, against a real MariaDB/MySQL.
 */
final class ShipmentOutboxTest extends IntegrationTestCase
{
    public function testShipmentWritesOneRowWithItemsAndTracks(): void
    {
        [$order, $orderItems] = $this->createOrder(['increment_id' => '000000077'], [
            ['sku' => 'ABC-1', 'name' => 'Blue mug', 'ext_order_item_id' => '12345678901234', 'qty_ordered' => '2.0000'],
            ['sku' => 'TSHIRT-M', 'name' => 'T-shirt', 'product_type' => 'configurable', 'ext_order_item_id' => '22222222222222'],
            ['sku' => 'TSHIRT-M', 'name' => 'T-shirt M', 'parent' => 1],
            ['sku' => 'GIFT-1', 'name' => 'Gift wrap', 'ext_order_item_id' => '33333333333333'],
        ]);
        $shipment = $this->saveShipment(
            $order,
            ['created_at' => '2026-11-27 08:30:00'],
            [
                ['order_item' => $orderItems[0], 'qty' => '2.0000'],
                ['order_item' => $orderItems[1], 'qty' => '1.0000'],
                ['order_item' => $orderItems[2], 'qty' => '1.0000'],
                ['order_item' => $orderItems[3], 'qty' => '0.0000'],
            ],
            [
                ['carrier_code' => 'dhl', 'title' => 'DHL Paket', 'track_number' => '00340434161094042557'],
                ['carrier_code' => 'custom', 'title' => 'Bote "Müller" & Söhne', 'track_number' => 'AB/12'],
            ]
        );

        $rows = $this->outboxRows();
        // the tracks saved with the shipment are in its row: no "track" rows
        $this->assertCount(1, $rows);
        $this->assertSame('shipment', $rows[0]['event_type']);
        $this->assertSame((string) $shipment->getEntityId(), $rows[0]['entity_id']);
        $this->assertSame((string) $order->getEntityId(), $rows[0]['order_id']);
        $this->assertSame('pending', $rows[0]['status']);

        $items = $shipment->getAllItems();
        $this->assertSame([
            'schema_version' => 2,
            'event_type' => 'shipment',
            'order' => [
                'entity_id' => (int) $order->getEntityId(), 'increment_id' => '000000077',
                'ext_order_id' => '302-1234567-1234567', 'store_id' => 1,
                'order_currency_code' => 'EUR', 'base_currency_code' => 'EUR',
                'state' => 'processing', 'status' => 'processing',
                'amazon_order_id' => '302-1234567-1234567', 'amazon_order_id_source' => 'ext_order_id',
                'connector' => null,
            ],
            'shipment' => [
                'entity_id' => (int) $shipment->getEntityId(),
                'increment_id' => $shipment->getIncrementId(),
                'created_at' => '2026-11-27 08:30:00',
                'created_by_connector' => null,
            ],
            'items' => [
                [
                    'entity_id' => null, 'order_item_id' => (int) $orderItems[0]->getItemId(),
                    'parent_item_id' => null, 'sku' => 'ABC-1', 'name' => 'Blue mug',
                    'ext_order_item_id' => '12345678901234', 'amazon_order_item_id' => null, 'qty' => '2.0000',
                ],
                [
                    'entity_id' => null, 'order_item_id' => (int) $orderItems[1]->getItemId(),
                    'parent_item_id' => null, 'sku' => 'TSHIRT-M', 'name' => 'T-shirt',
                    'ext_order_item_id' => '22222222222222', 'amazon_order_item_id' => null, 'qty' => '1.0000',
                ],
                [
                    'entity_id' => null, 'order_item_id' => (int) $orderItems[2]->getItemId(),
                    'parent_item_id' => (int) $orderItems[1]->getItemId(), 'sku' => 'TSHIRT-M', 'name' => 'T-shirt M',
                    'ext_order_item_id' => null, 'amazon_order_item_id' => null, 'qty' => '1.0000',
                ],
            ],
            'tracks' => [
                ['carrier_code' => 'dhl', 'title' => 'DHL Paket', 'track_number' => '00340434161094042557'],
                ['carrier_code' => 'custom', 'title' => 'Bote "Müller" & Söhne', 'track_number' => 'AB/12'],
            ],
        ], json_decode($rows[0]['payload'], true, 512, JSON_THROW_ON_ERROR));
        $this->assertSame(['sales'], array_values(array_unique($this->resource->requestedConnections)));
        // Items and tracks are saved after *_save_after (processRelations), in the same transaction.
        $this->assertSame(4, $this->rowCount('sales_shipment_item'));
        $this->assertSame(2, $this->rowCount('sales_shipment_track'));
        $this->assertGreaterThan(0, (int) $items[0]->getEntityId());
    }

    public function testShipmentCreatedAtFallsBackToTheRowAndSecondSaveWritesNothing(): void
    {
        [$order, $orderItems] = $this->createOrder([], [['sku' => 'A', 'name' => 'A']]);
        $shipment = $this->saveShipment($order, [], [['order_item' => $orderItems[0], 'qty' => '1.0000']], []);
        $rows = $this->outboxRows();
        $this->assertCount(1, $rows);
        $payload = json_decode($rows[0]['payload'], true);
        $this->assertSame(
            $this->loadRow('sales_shipment', 'entity_id', (int) $shipment->getEntityId())['created_at'],
            $payload['shipment']['created_at']
        );
        $this->assertSame([], $payload['tracks']);

        $this->adapter->beginTransaction();
        $shipment->setTracks([new \Magento\Sales\Model\Order\Shipment\Track(['carrier_code' => 'ups', 'title' => 'UPS', 'track_number' => '1Z'])]);
        (new \RefundBridge\Outbox\Observer\ShipmentSaveObserver($this->writer()))->execute(
            new \Magento\Framework\Event\Observer(['event' => new \Magento\Framework\Event(['shipment' => $shipment])])
        );
        $this->adapter->commit();
        $this->assertSame($rows, $this->outboxRows());
    }

    public function testNonAmazonOrDisabledShipmentWritesNothing(): void
    {
        [$order, $orderItems] = $this->createOrder(['ext_order_id' => null], [['sku' => 'A', 'name' => 'A']]);
        $this->saveShipment($order, [], [['order_item' => $orderItems[0], 'qty' => '1.0000']], []);

        $this->scopeConfig->set(Config::XML_PATH_ENABLED, '0');
        [$order, $orderItems] = $this->createOrder([], [['sku' => 'A', 'name' => 'A']]);
        $this->saveShipment($order, [], [['order_item' => $orderItems[0], 'qty' => '1.0000']], []);

        $this->assertSame(2, $this->rowCount('sales_shipment'));
        $this->assertSame(0, $this->rowCount('refund_bridge_outbox'));
    }
}

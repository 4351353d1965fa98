<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use RefundBridge\Outbox\Model\Config;

/**
 * Magento 2.4 behaviours observed in a real install (issue 6, section 3), each with a stand-in
 * that behaves as Magento does.
 */
final class MagentoBehaviourTest extends IntegrationTestCase
{
    /**
     * POST /V1/creditmemo (CreditmemoRepositoryInterface::save()) stores the memo as it is sent,
     * without refunding (state 1 = Creditmemo::STATE_OPEN); the admin form and RefundOrder set
     * STATE_REFUNDED (2) before the save (RefundOrder::execute(), CreditmemoService::refund()).
     * The snapshot carries the state; only state 2 is sent to Amazon by the sidecar.
     */
    public function testCreditmemoStateIsInTheSnapshot(): void
    {
        [$order, $items] = $this->createOrder([], [['sku' => 'A', 'name' => 'A']]);
        $this->saveCreditmemo($order, [], ['state' => 1], [['order_item' => $items[0], 'qty' => '1.0000']]);
        $this->saveCreditmemo($order, ['state' => 2], ['state' => 2], [['order_item' => $items[0], 'qty' => '1.0000']]);

        $rows = $this->outboxRows();
        $this->assertSame(1, json_decode($rows[0]['payload'], true)['creditmemo']['state']);
        $this->assertSame(2, json_decode($rows[1]['payload'], true)['creditmemo']['state']);
    }

    /**
     * RefundOrderInterface (POST /V1/order/{id}/refund): CreditmemoDocumentFactory::createFromOrder()
     * sets no back_to_stock flag on any item; SalesInventory's ReturnToStockOrder plugin returns
     * return_to_stock_items to stock after the commit. The module cannot know per item: it says
     * so (restock_known false, back_to_stock null), never a wrong false.
     */
    public function testApiRefundReportsRestockAsUnknown(): void
    {
        [$order, $items] = $this->createOrder([], [['sku' => 'A', 'name' => 'A'], ['sku' => 'B', 'name' => 'B']]);
        $this->saveCreditmemo($order, [], [], [
            ['order_item' => $items[0], 'qty' => '1.0000', 'back_to_stock' => null],
            ['order_item' => $items[1], 'qty' => '1.0000', 'back_to_stock' => null],
        ]);
        $payload = json_decode($this->outboxRows()[0]['payload'], true);
        $this->assertFalse($payload['creditmemo']['restock_known']);
        $this->assertSame([null, null], array_column($payload['items'], 'back_to_stock'));

        // the admin form (CreditmemoLoader) flags every item, true or false: known
        $this->saveCreditmemo($order, [], [], [
            ['order_item' => $items[0], 'qty' => '1.0000', 'back_to_stock' => true],
            ['order_item' => $items[1], 'qty' => '1.0000', 'back_to_stock' => false],
        ]);
        $payload = json_decode($this->outboxRows()[1]['payload'], true);
        $this->assertTrue($payload['creditmemo']['restock_known']);
        $this->assertSame([true, false], array_column($payload['items'], 'back_to_stock'));
    }

    /**
     * POST /V1/shipment and ShipOrderInterface set the tracks through setTracks() (the "tracks"
     * data); Magento 2.4's getAllTracks() reads only the tracks collection, which does not hold
     * them. The snapshot reads both.
     */
    public function testRestShipmentTracksAreInTheSnapshot(): void
    {
        [$order, $items] = $this->createOrder([], [['sku' => 'A', 'name' => 'A']]);
        $shipment = $this->saveShipment($order, [], [['order_item' => $items[0], 'qty' => '1.0000']], [
            ['carrier_code' => 'ups', 'title' => 'UPS', 'track_number' => '1Z999'],
        ], 'rest');

        $this->assertSame([], $shipment->getAllTracks(), 'the stand-in, like Magento, has no REST track in the collection');
        $rows = $this->outboxRows();
        $this->assertCount(1, $rows);
        $this->assertSame(
            [['carrier_code' => 'ups', 'title' => 'UPS', 'track_number' => '1Z999']],
            json_decode($rows[0]['payload'], true)['tracks']
        );
    }

    /**
     * A track added after the shipment (admin "Add tracking", ShipmentTrackRepositoryInterface::save())
     * fires only sales_order_shipment_track_save_after. It writes a "track" row: the whole
     * shipment with all its tracks, entity_id = the track's id; a later save of the same track
     * writes nothing more (unique key (event_type, entity_id)).
     */
    public function testTrackAddedLaterWritesATrackRowWithTheWholeShipment(): void
    {
        [$order, $items] = $this->createOrder([], [['sku' => 'A', 'name' => 'A']]);
        $shipment = $this->saveShipment($order, [], [['order_item' => $items[0], 'qty' => '1.0000']], [
            ['carrier_code' => 'dhl', 'title' => 'DHL', 'track_number' => 'D1'],
        ]);
        $track = $this->addTrackLater($shipment, ['carrier_code' => 'ups', 'title' => 'UPS', 'track_number' => '1Z2']);

        $rows = $this->outboxRows();
        $this->assertSame(['shipment', 'track'], array_column($rows, 'event_type'));
        $this->assertSame((string) $track->getEntityId(), $rows[1]['entity_id']);
        $this->assertSame((string) $order->getEntityId(), $rows[1]['order_id']);
        $payload = json_decode($rows[1]['payload'], true);
        $this->assertSame('track', $payload['event_type']);
        $this->assertSame((int) $shipment->getEntityId(), $payload['shipment']['entity_id']);
        $this->assertSame(['D1', '1Z2'], array_column($payload['tracks'], 'track_number'));
        $this->assertSame(array_keys(json_decode($rows[0]['payload'], true)), array_keys($payload));

        // saving the track again (e.g. an edit) adds no row
        $this->adapter->beginTransaction();
        (new \RefundBridge\Outbox\Observer\ShipmentTrackSaveObserver($this->writer()))->execute(
            new \Magento\Framework\Event\Observer(['event' => new \Magento\Framework\Event(['track' => $track])])
        );
        $this->adapter->commit();
        $this->assertCount(2, $this->outboxRows());
    }

    public function testTrackOfANonAmazonOrderWritesNothing(): void
    {
        [$order, $items] = $this->createOrder(['ext_order_id' => null], [['sku' => 'A', 'name' => 'A']]);
        $shipment = $this->saveShipment($order, [], [['order_item' => $items[0], 'qty' => '1.0000']], []);
        $this->addTrackLater($shipment, ['carrier_code' => 'ups', 'title' => 'UPS', 'track_number' => '1Z3']);
        $this->assertSame(0, $this->rowCount('refund_bridge_outbox'));
        $this->assertSame(1, $this->rowCount('sales_shipment_track'));
    }

    /** A bridged order's failing insert fails the save, and the reason is logged (the admin only sees "could not be saved"). */
    public function testFailureOfABridgedOrderIsLoggedAndRollsBack(): void
    {
        [$order, $items] = $this->createOrder([], [['sku' => 'A', 'name' => 'A']]);
        $this->pdo->exec('RENAME TABLE refund_bridge_outbox TO refund_bridge_outbox_away');
        try {
            $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '1.0000']]);
            $this->fail('expected the save to fail');
        } catch (\PDOException $e) {
            $this->assertStringContainsString('refund_bridge_outbox', $e->getMessage());
        } finally {
            $this->pdo->exec('RENAME TABLE refund_bridge_outbox_away TO refund_bridge_outbox');
        }
        $this->assertSame(0, $this->rowCount('sales_creditmemo'));
        $critical = $this->logger->messages('critical');
        $this->assertCount(1, $critical);
        $this->assertStringContainsString('could not be queued in refund_bridge_outbox; the save is rolled back', $critical[0]);
    }

    /** increment_id source: off by default; on, "prefix + Amazon order id" gives the id. */
    public function testIncrementIdWithPrefix(): void
    {
        [$order, $items] = $this->createOrder(['ext_order_id' => null, 'increment_id' => 'AMZ302-1234567-7654321'], [['sku' => 'A', 'name' => 'A']]);
        $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '1.0000']]);
        $this->assertSame(0, $this->rowCount('refund_bridge_outbox'), 'off by default');

        $this->scopeConfig->set(Config::XML_PATH_SOURCE_PREFIX . 'increment_id', '1');
        $this->scopeConfig->set(Config::XML_PATH_INCREMENT_ID_PREFIX, 'AMZ');
        $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '1.0000']]);
        [$other, $otherItems] = $this->createOrder(['ext_order_id' => null, 'increment_id' => '000000555'], [['sku' => 'A', 'name' => 'A']]);
        $this->saveCreditmemo($other, [], [], [['order_item' => $otherItems[0], 'qty' => '1.0000']]);

        $rows = $this->outboxRows();
        $this->assertCount(1, $rows);
        $payload = json_decode($rows[0]['payload'], true);
        $this->assertSame('302-1234567-7654321', $payload['order']['amazon_order_id']);
        $this->assertSame('increment_id', $payload['order']['amazon_order_id_source']);
    }

    /** Sources are tried in order: ext_order_id wins over increment_id. */
    public function testExtOrderIdComesBeforeIncrementId(): void
    {
        $this->scopeConfig->set(Config::XML_PATH_SOURCE_PREFIX . 'increment_id', '1');
        [$order, $items] = $this->createOrder(['increment_id' => '111-1111111-1111111'], [['sku' => 'A', 'name' => 'A']]);
        $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '1.0000']]);
        $payload = json_decode($this->outboxRows()[0]['payload'], true);
        $this->assertSame(['302-1234567-1234567', 'ext_order_id'], [$payload['order']['amazon_order_id'], $payload['order']['amazon_order_id_source']]);
    }
}

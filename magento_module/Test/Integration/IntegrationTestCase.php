<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use Magento\Framework\App\ResourceConnection;
use Magento\Framework\DB\Adapter\Pdo\Mysql;
use Magento\Framework\Event;
use Magento\Framework\Event\Observer;
use Magento\Sales\Model\Order;
use Magento\Sales\Model\Order\Creditmemo;
use Magento\Sales\Model\Order\Item as OrderItem;
use Magento\Sales\Model\Order\Shipment;
use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Model\OutboxWriter;
use RefundBridge\Outbox\Observer\CreditmemoSaveObserver;
use RefundBridge\Outbox\Observer\ShipmentSaveObserver;
use RefundBridge\Outbox\Observer\ShipmentTrackSaveObserver;
use Magento\Framework\Registry;
use RefundBridge\Outbox\Test\Integration\Support\ArrayLogger;
use RefundBridge\Outbox\Test\Integration\Support\ArrayScopeConfig;
use RefundBridge\Outbox\Test\Integration\Support\ModuleFactory;
use RefundBridge\Outbox\Test\Integration\Support\TestDatabase;

/**
 * Real MariaDB/MySQL, Magento stand-ins. A "save" mirrors Magento 2.4's
 * VersionControl\AbstractDb::save(): begin a transaction on the sales connection, INSERT the
 * entity row, dispatch *_save_after (call the observer with the in-memory model), THEN save the
 * child rows (processAfterSaves() runs afterSave() before processRelations(), so credit memo
 * items and shipment items / tracks have no entity_id yet when the observer runs), commit; on any
 * exception roll back and rethrow.
 */
abstract class IntegrationTestCase extends TestCase
{
    protected \PDO $pdo;
    protected Mysql $adapter;
    protected ResourceConnection $resource;
    protected ArrayScopeConfig $scopeConfig;
    protected ArrayLogger $logger;
    protected Registry $registry;
    private static int $sequence = 0;

    protected function setUp(): void
    {
        if (TestDatabase::$unavailableReason !== null) {
            $this->markTestSkipped(TestDatabase::$unavailableReason);
        }
        $this->pdo = TestDatabase::connect();
        foreach (['refund_bridge_outbox', 'sales_shipment', 'sales_creditmemo', 'sales_order', 'm2epro_config', 'm2epro_order', 'm2epro_amazon_order', 'm2epro_amazon_account'] as $table) {
            $this->pdo->exec("DELETE FROM `$table`"); // FKs cascade to items, tracks, ...
        }
        $this->adapter = new Mysql($this->pdo);
        $this->resource = new ResourceConnection($this->adapter);
        $this->scopeConfig = new ArrayScopeConfig();
        $this->logger = new ArrayLogger();
        $this->registry = new Registry();
    }

    protected function writer(?ResourceConnection $resource = null): OutboxWriter
    {
        $resource ??= $this->resource;

        return ModuleFactory::writer($resource, $this->scopeConfig, $this->logger, $this->registry);
    }

    protected function insertRow(string $table, array $row): int
    {
        $columns = implode(', ', array_map(static fn ($c) => "`$c`", array_keys($row)));
        $marks = implode(', ', array_fill(0, count($row), '?'));
        $this->pdo->prepare("INSERT INTO `$table` ($columns) VALUES ($marks)")->execute(array_values($row));

        return (int) $this->pdo->lastInsertId();
    }

    /** @return array<string, mixed> the row as Magento's load() would see it (strings / null) */
    protected function loadRow(string $table, string $pk, int $id): array
    {
        $stmt = $this->pdo->prepare("SELECT * FROM `$table` WHERE `$pk` = ?");
        $stmt->execute([$id]);
        $row = $stmt->fetch();
        $this->assertIsArray($row, "$table row $id");

        return $row;
    }

    /** @return list<array<string, mixed>> */
    protected function outboxRows(): array
    {
        return $this->pdo->query('SELECT * FROM refund_bridge_outbox ORDER BY id')->fetchAll();
    }

    protected function rowCount(string $table): int
    {
        return (int) $this->pdo->query("SELECT COUNT(*) FROM `$table`")->fetchColumn();
    }

    /**
     * Inserts sales_order + sales_order_item rows and returns the in-memory order and items loaded
     * back from the DB. An item may give 'parent' => index of an earlier item (configurable child).
     *
     * @return array{0: Order, 1: list<OrderItem>}
     */
    protected function createOrder(array $order = [], array $items = []): array
    {
        $n = ++self::$sequence;
        $orderId = $this->insertRow('sales_order', $order + [
            'increment_id' => sprintf('%09d', $n),
            'ext_order_id' => '302-1234567-1234567',
            'store_id' => 1,
            'state' => 'processing',
            'status' => 'processing',
            'order_currency_code' => 'EUR',
            'base_currency_code' => 'EUR',
            'global_currency_code' => 'EUR',
            'store_currency_code' => 'EUR',
            'grand_total' => '100.0000',
            'base_grand_total' => '100.0000',
        ]);
        $orderItems = [];
        foreach ($items as $spec) {
            $parent = $spec['parent'] ?? null;
            unset($spec['parent']);
            $itemId = $this->insertRow('sales_order_item', $spec + [
                'order_id' => $orderId,
                'store_id' => 1,
                'parent_item_id' => $parent === null ? null : (int) $orderItems[$parent]->getItemId(),
                'product_type' => 'simple',
                'qty_ordered' => '1.0000',
                'qty_shipped' => '0.0000',
                'qty_refunded' => '0.0000',
                'qty_canceled' => '0.0000',
            ]);
            $orderItems[] = new OrderItem($this->loadRow('sales_order_item', 'item_id', $itemId));
        }
        $model = new Order($this->loadRow('sales_order', 'entity_id', $orderId));
        $model->setItems($orderItems);

        return [$model, $orderItems];
    }

    /**
     * One credit memo save. $memory: in-memory header values (Magento's computed totals, often
     * floats); $db: values for the sales_creditmemo row. $items: list of
     * ['order_item' => OrderItem, 'qty' => .., 'back_to_stock' => bool, + item columns].
     */
    protected function saveCreditmemo(
        Order $order,
        array $memory,
        array $db,
        array $items,
        ?ResourceConnection $resource = null,
        array $memoryItemData = []
    ): Creditmemo {
        $this->adapter->beginTransaction();
        try {
            $creditmemoId = $this->insertRow('sales_creditmemo', $db + [
                'order_id' => (int) $order->getEntityId(),
                'store_id' => (int) $order->getStoreId(),
                'increment_id' => sprintf('CM%07d', ++self::$sequence),
                'state' => 2,
                'order_currency_code' => $order->getOrderCurrencyCode(),
            ]);
            $creditmemo = new Creditmemo($memory + [
                'entity_id' => $creditmemoId,
                'increment_id' => $this->loadRow('sales_creditmemo', 'entity_id', $creditmemoId)['increment_id'],
                'order_id' => $order->getEntityId(),
                'store_id' => $order->getStoreId(),
                'order_currency_code' => $order->getOrderCurrencyCode(),
            ]);
            $creditmemo->setOrder($order);
            $models = [];
            $rows = [];
            foreach ($items as $spec) {
                /** @var OrderItem $orderItem */
                $orderItem = $spec['order_item'];
                $backToStock = array_key_exists('back_to_stock', $spec) ? $spec['back_to_stock'] : false;
                unset($spec['order_item'], $spec['back_to_stock']);
                $row = $spec + [
                    'parent_id' => $creditmemoId,
                    'order_item_id' => (int) $orderItem->getItemId(),
                    'product_id' => $orderItem->getProductId(),
                    'sku' => $orderItem->getSku(),
                    'name' => $orderItem->getName(),
                ];
                // Magento's refund() adds the qty to the order item in memory (float) and saves it.
                $this->pdo->prepare('UPDATE sales_order_item SET qty_refunded = qty_refunded + ? WHERE item_id = ?')
                    ->execute([(string) $row['qty'], (int) $orderItem->getItemId()]);
                $orderItem->setQtyRefunded((float) $orderItem->getQtyRefunded() + (float) $row['qty']);
                $item = new Creditmemo\Item($memoryItemData + $row); // not saved yet: no entity_id
                $item->setOrderItem($orderItem);
                if ($backToStock !== null) {
                    // The admin form flags every item; RefundOrderInterface sets no flag (null).
                    $item->setBackToStock($backToStock);
                }
                $models[] = $item;
                $rows[] = $row;
            }
            $creditmemo->setItems($models);

            $this->dispatchCreditmemoSaveAfter($creditmemo, $resource);
            // processRelations(): the items are saved only after the event.
            foreach ($models as $i => $item) {
                $item->setEntityId($this->insertRow('sales_creditmemo_item', $rows[$i]));
            }
            $this->adapter->commit();
        } catch (\Throwable $e) {
            $this->adapter->rollBack();
            throw $e;
        }

        return $creditmemo;
    }

    /** A later save of an existing credit memo (e.g. Magento setting email_sent). */
    protected function saveCreditmemoAgain(Creditmemo $creditmemo): void
    {
        $this->adapter->beginTransaction();
        try {
            $this->pdo->prepare('UPDATE sales_creditmemo SET email_sent = 1 WHERE entity_id = ?')
                ->execute([(int) $creditmemo->getEntityId()]);
            $creditmemo->setEmailSent(1);
            $this->dispatchCreditmemoSaveAfter($creditmemo, null);
            $this->adapter->commit();
        } catch (\Throwable $e) {
            $this->adapter->rollBack();
            throw $e;
        }
    }

    protected function dispatchCreditmemoSaveAfter(Creditmemo $creditmemo, ?ResourceConnection $resource): void
    {
        $observer = new CreditmemoSaveObserver($this->writer($resource));
        $observer->execute(new Observer(['event' => new Event([
            'name' => 'sales_order_creditmemo_save_after',
            'data_object' => $creditmemo,
            'creditmemo' => $creditmemo,
        ])]));
    }

    /**
     * One shipment save. $items: list of ['order_item' => OrderItem, 'qty' => ..];
     * $tracks: list of ['carrier_code' =>, 'title' =>, 'track_number' =>].
     * $trackPath "admin": the admin form / ShipmentFactory adds each track with addTrack() (tracks
     * collection + "tracks" data); "rest": POST /V1/shipment's hydrator only sets the "tracks"
     * data (setTracks()), so getAllTracks() does not see them. Like Magento's
     * ResourceModel\Order\Shipment\Relation, the tracks of getTracks() are saved after the
     * event, each firing sales_order_shipment_track_save_after.
     */
    protected function saveShipment(Order $order, array $memory, array $items, array $tracks, string $trackPath = 'admin'): Shipment
    {
        $this->adapter->beginTransaction();
        try {
            $shipmentId = $this->insertRow('sales_shipment', [
                'order_id' => (int) $order->getEntityId(),
                'store_id' => (int) $order->getStoreId(),
                'increment_id' => sprintf('SH%07d', ++self::$sequence),
            ]);
            $row = $this->loadRow('sales_shipment', 'entity_id', $shipmentId);
            $shipment = new Shipment($memory + [
                'entity_id' => $shipmentId,
                'increment_id' => $row['increment_id'],
                'order_id' => $order->getEntityId(),
                'store_id' => $order->getStoreId(),
            ]);
            $shipment->setOrder($order);
            $models = [];
            $itemRows = [];
            foreach ($items as $spec) {
                $orderItem = $spec['order_item'];
                unset($spec['order_item']);
                $row = $spec + [
                    'parent_id' => $shipmentId,
                    'order_item_id' => (int) $orderItem->getItemId(),
                    'product_id' => $orderItem->getProductId(),
                    'sku' => $orderItem->getSku(),
                    'name' => $orderItem->getName(),
                ];
                $item = new Shipment\Item($row); // not saved yet: no entity_id
                $item->setOrderItem($orderItem);
                $models[] = $item;
                $itemRows[] = $row;
            }
            $shipment->setItems($models);
            $trackModels = [];
            foreach ($tracks as $spec) {
                $trackModels[] = new Shipment\Track($spec); // not saved yet: no entity_id
            }
            if ($trackPath === 'rest') {
                foreach ($trackModels as $track) {
                    $track->setShipment($shipment);
                }
                $shipment->setTracks($trackModels);
            } else {
                foreach ($trackModels as $track) {
                    $shipment->addTrack($track);
                }
            }

            $observer = new ShipmentSaveObserver($this->writer());
            $observer->execute(new Observer(['event' => new Event([
                'name' => 'sales_order_shipment_save_after',
                'data_object' => $shipment,
                'shipment' => $shipment,
            ])]));
            // processRelations(): items and tracks are saved only after the event.
            foreach ($models as $i => $item) {
                $item->setEntityId($this->insertRow('sales_shipment_item', $itemRows[$i]));
            }
            foreach ($shipment->getTracks() ?? [] as $track) {
                $this->persistTrack($shipment, $track);
            }
            $this->adapter->commit();
        } catch (\Throwable $e) {
            $this->adapter->rollBack();
            throw $e;
        }

        return $shipment;
    }

    /**
     * A track added after its shipment (admin "Add tracking", ShipmentTrackRepositoryInterface::save()):
     * only the track is saved, in its own transaction; no shipment save fires.
     */
    protected function addTrackLater(Shipment $shipment, array $spec): Shipment\Track
    {
        $this->adapter->beginTransaction();
        try {
            $track = new Shipment\Track($spec);
            $shipment->addTrack($track);
            $this->persistTrack($shipment, $track);
            $this->adapter->commit();
        } catch (\Throwable $e) {
            $this->adapter->rollBack();
            throw $e;
        }

        return $track;
    }

    private function persistTrack(Shipment $shipment, Shipment\Track $track): void
    {
        $row = [
            'parent_id' => (int) $shipment->getEntityId(),
            'order_id' => (int) $shipment->getData('order_id'),
            'carrier_code' => $track->getCarrierCode(),
            'title' => $track->getTitle(),
            'track_number' => $track->getTrackNumber(),
        ];
        // Magento's addTrack() can list the same new track twice in getTracks() (collection items
        // plus the appended track); the relation's second save of it is an UPDATE, not a new row,
        // and fires the event again.
        if (!$track->getEntityId()) {
            $track->setEntityId($this->insertRow('sales_shipment_track', $row));
        }
        $track->setShipment($shipment);
        (new ShipmentTrackSaveObserver($this->writer()))->execute(new Observer(['event' => new Event([
            'name' => 'sales_order_shipment_track_save_after',
            'data_object' => $track,
            'track' => $track,
        ])]));
    }
}

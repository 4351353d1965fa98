<?php
/**
 * Writes one outbox row per new credit memo / shipment of an Amazon order.
 *
 * Runs inside Magento's own save transaction: it uses the "sales" connection (the one the
 * credit memo / shipment is saved on), opens no transaction of its own and catches nothing, so
 * a failing insert fails the save and is rolled back together with it.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

use Magento\Framework\App\ResourceConnection;
use Magento\Sales\Model\Order;
use Magento\Sales\Model\Order\Creditmemo;
use Magento\Sales\Model\Order\Shipment;

class OutboxWriter
{
    public const TABLE = 'refund_bridge_outbox';
    public const CONNECTION_NAME = 'sales';
    public const EVENT_CREDITMEMO = 'creditmemo';
    public const EVENT_SHIPMENT = 'shipment';
    public const JSON_FLAGS = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR
        | JSON_PRESERVE_ZERO_FRACTION;

    private ResourceConnection $resource;
    private Config $config;
    private SnapshotBuilder $snapshotBuilder;

    public function __construct(ResourceConnection $resource, Config $config, SnapshotBuilder $snapshotBuilder)
    {
        $this->resource = $resource;
        $this->config = $config;
        $this->snapshotBuilder = $snapshotBuilder;
    }

    /**
     * @return bool true when the credit memo belongs to the bridge and its row was written
     *              (or already existed), false when disabled or not an Amazon order
     */
    public function writeCreditmemo(Creditmemo $creditmemo): bool
    {
        $order = $creditmemo->getOrder();
        if (!$this->isBridged($order)) {
            return false;
        }
        $this->insert(
            self::EVENT_CREDITMEMO,
            self::requireId($creditmemo->getEntityId(), 'credit memo'),
            self::requireId($order->getEntityId(), 'order'),
            $this->snapshotBuilder->forCreditmemo($creditmemo)
        );

        return true;
    }

    public function writeShipment(Shipment $shipment): bool
    {
        $order = $shipment->getOrder();
        if (!$this->isBridged($order)) {
            return false;
        }
        $this->insert(
            self::EVENT_SHIPMENT,
            self::requireId($shipment->getEntityId(), 'shipment'),
            self::requireId($order->getEntityId(), 'order'),
            $this->snapshotBuilder->forShipment($shipment)
        );

        return true;
    }

    /**
     * INSERT ... ON DUPLICATE KEY UPDATE event_type = VALUES(event_type): the first save of an
     * entity creates the row; later saves hit the unique key (event_type, entity_id) and change
     * nothing. Unlike INSERT IGNORE, every other error still raises.
     *
     * @param array<string, mixed> $payload
     * @return int affected rows: 1 = inserted, 0 = row already existed
     */
    public function insert(string $eventType, int $entityId, int $orderId, array $payload): int
    {
        $connection = $this->resource->getConnection(self::CONNECTION_NAME);

        return (int) $connection->insertOnDuplicate(
            $this->resource->getTableName(self::TABLE),
            [
                'event_type' => $eventType,
                'entity_id' => $entityId,
                'order_id' => $orderId,
                'payload' => json_encode($payload, self::JSON_FLAGS),
            ],
            ['event_type']
        );
    }

    private function isBridged(Order $order): bool
    {
        $storeId = $order->getStoreId();
        $storeId = $storeId === null || $storeId === '' ? null : (int) $storeId;
        $extOrderId = $order->getExtOrderId();

        return $this->config->isEnabled($storeId)
            && $this->config->isAmazonOrderId($extOrderId === null ? null : (string) $extOrderId, $storeId);
    }

    /**
     * @param mixed $id
     */
    private static function requireId($id, string $what): int
    {
        if ($id === null || $id === '' || (int) $id <= 0) {
            throw new \LogicException("Amazon Refund Bridge: the $what has no entity id yet; cannot write the outbox row");
        }

        return (int) $id;
    }
}

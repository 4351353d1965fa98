<?php
/**
 * Writes one outbox row per new credit memo / shipment / later track of an Amazon order.
 *
 * Runs inside Magento's own save transaction: it uses the "sales" connection (the one the
 * credit memo / shipment is saved on) and opens no transaction of its own. Deciding whether the
 * order is bridged never throws (Resolver\AmazonOrderResolver logs and skips), so a save of an
 * order that is not bridged never fails because of the module. Once an order IS bridged, a
 * failing snapshot or insert is logged and rethrown: the save fails and is rolled back with it,
 * so there is never a credit memo without its row.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

use Magento\Framework\App\ResourceConnection;
use Magento\Sales\Model\Order;
use Magento\Sales\Model\Order\Creditmemo;
use Magento\Sales\Model\Order\Shipment;
use Magento\Sales\Model\Order\Shipment\Track;
use Psr\Log\LoggerInterface;
use RefundBridge\Outbox\Model\M2ePro\OriginDetector;
use RefundBridge\Outbox\Model\Resolver\AmazonOrderResolver;
use RefundBridge\Outbox\Model\Resolver\Resolution;

class OutboxWriter
{
    public const TABLE = 'refund_bridge_outbox';
    public const CONNECTION_NAME = 'sales';
    public const EVENT_CREDITMEMO = 'creditmemo';
    public const EVENT_SHIPMENT = 'shipment';
    public const EVENT_TRACK = 'track';
    /**
     * No JSON_UNESCAPED_UNICODE: every non-ASCII character is written as a \u escape such as \u00e9 (a 4-byte one as
     * a surrogate pair), so the payload is pure ASCII and survives any connection charset
     * (a default Magento 2.4 connection runs SET NAMES utf8, i.e. utf8mb3). Invalid UTF-8 becomes
     * U+FFFD instead of failing the save.
     */
    public const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION
        | JSON_INVALID_UTF8_SUBSTITUTE;

    private ResourceConnection $resource;
    private Config $config;
    private SnapshotBuilder $snapshotBuilder;
    private AmazonOrderResolver $resolver;
    private OriginDetector $originDetector;
    private LoggerInterface $logger;

    public function __construct(
        ResourceConnection $resource,
        Config $config,
        SnapshotBuilder $snapshotBuilder,
        AmazonOrderResolver $resolver,
        OriginDetector $originDetector,
        LoggerInterface $logger
    ) {
        $this->resource = $resource;
        $this->config = $config;
        $this->snapshotBuilder = $snapshotBuilder;
        $this->resolver = $resolver;
        $this->originDetector = $originDetector;
        $this->logger = $logger;
    }

    /**
     * @return bool true when the credit memo belongs to the bridge and its row was written
     *              (or already existed), false when disabled or not an Amazon order
     */
    public function writeCreditmemo(Creditmemo $creditmemo): bool
    {
        $order = $creditmemo->getOrder();
        $resolution = $this->resolve($order);
        if ($resolution === null) {
            return false;
        }
        $this->guarded($order, 'credit memo', function () use ($creditmemo, $order, $resolution): void {
            $this->insert(
                self::EVENT_CREDITMEMO,
                self::requireId($creditmemo->getEntityId(), 'credit memo'),
                self::requireId($order->getEntityId(), 'order'),
                $this->snapshotBuilder->forCreditmemo($creditmemo, $resolution, $this->originDetector->creditmemoCreatedBy())
            );
        });

        return true;
    }

    public function writeShipment(Shipment $shipment): bool
    {
        $order = $shipment->getOrder();
        $resolution = $this->resolve($order);
        if ($resolution === null) {
            return false;
        }
        $this->guarded($order, 'shipment', function () use ($shipment, $order, $resolution): void {
            $this->insert(
                self::EVENT_SHIPMENT,
                self::requireId($shipment->getEntityId(), 'shipment'),
                self::requireId($order->getEntityId(), 'order'),
                $this->snapshotBuilder->forShipment($shipment, $resolution, $this->originDetector->shipmentCreatedBy())
            );
        });

        return true;
    }

    /**
     * A track saved on its own (admin "Add tracking", ShipmentTrackRepositoryInterface::save()):
     * a "track" row with the whole shipment. A track saved as part of its shipment's first save
     * is already in that shipment's row, and writes nothing.
     */
    public function writeTrack(Track $track): bool
    {
        $shipment = $track->getShipment();
        $order = $shipment->getOrder();
        $resolution = $this->resolve($order);
        if ($resolution === null) {
            return false;
        }
        $written = false;
        $this->guarded($order, 'track', function () use ($track, $shipment, $order, $resolution, &$written): void {
            $shipmentId = self::requireId($shipment->getEntityId(), 'shipment');
            if ($this->shipmentRowHasTrack($shipmentId, $track)) {
                return;
            }
            $this->insert(
                self::EVENT_TRACK,
                self::requireId($track->getEntityId(), 'track'),
                self::requireId($order->getEntityId(), 'order'),
                $this->snapshotBuilder->forShipment(
                    $shipment,
                    $resolution,
                    $this->originDetector->shipmentCreatedBy(),
                    self::EVENT_TRACK,
                    $track
                )
            );
            $written = true;
        });

        return $written;
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

    private function resolve(Order $order): ?Resolution
    {
        if (!$this->config->isEnabled(Resolver\AmazonOrderResolver::storeId($order))) {
            return null;
        }

        return $this->resolver->resolve($order);
    }

    /**
     * Runs the write of a bridged order; on failure logs why (the admin only sees "The credit
     * memo couldn't be saved.") and rethrows so the save rolls back.
     */
    private function guarded(Order $order, string $what, callable $write): void
    {
        try {
            $write();
        } catch (\Throwable $e) {
            $this->logger->critical(sprintf(
                'Amazon Refund Bridge: the %s of order #%s (entity %s) could not be queued in %s; the save is rolled back: %s',
                $what,
                (string) $order->getIncrementId(),
                (string) $order->getEntityId(),
                self::TABLE,
                $e->getMessage()
            ), ['exception' => $e]);
            throw $e;
        }
    }

    private function shipmentRowHasTrack(int $shipmentId, Track $track): bool
    {
        $connection = $this->resource->getConnection(self::CONNECTION_NAME);
        $payload = $connection->fetchOne(
            'SELECT ' . $connection->quoteIdentifier('payload')
            . ' FROM ' . $connection->quoteIdentifier($this->resource->getTableName(self::TABLE))
            . ' WHERE ' . $connection->quoteIdentifier('event_type') . ' = ? AND '
            . $connection->quoteIdentifier('entity_id') . ' = ?',
            [self::EVENT_SHIPMENT, $shipmentId]
        );
        if (!is_string($payload)) {
            return false;
        }
        $doc = json_decode($payload, true);
        foreach (is_array($doc) ? ($doc['tracks'] ?? []) : [] as $known) {
            if (is_array($known)
                && ($known['carrier_code'] ?? null) === $track->getCarrierCode()
                && ($known['track_number'] ?? null) === $track->getTrackNumber()
            ) {
                return true;
            }
        }

        return false;
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

<?php
/**
 * Test CLI: runs the module's REAL save_after observer for a credit memo or shipment that is
 * already committed in a Magento Sales database, so end-to-end tests (Python) get outbox rows
 * written by the module code itself.
 *
 *   php magento_module/Test/bin/observe.php creditmemo <entity_id> [--back-to-stock=<order_item_id,...>] [--disabled]
 *   php magento_module/Test/bin/observe.php creditmemo <entity_id> --api-refund [--disabled]
 *   php magento_module/Test/bin/observe.php shipment <entity_id> [--disabled] [--m2epro-created]
 *   php magento_module/Test/bin/observe.php track <track_entity_id> [--disabled]
 *
 * DB: env TEST_DB_NAME (required), TEST_DB_HOST (127.0.0.1), TEST_DB_PORT (3306),
 * TEST_DB_USER (root), TEST_DB_PASSWORD ("").
 *
 * The committed rows are loaded the way Magento holds them in memory at save time (every value a
 * string or null, never a float): sales_creditmemo + sales_creditmemo_item, each item linked to
 * its sales_order_item model, and the sales_order (with all its items); or sales_shipment +
 * sales_shipment_item + sales_shipment_track + the order. "Return to Stock" is stored nowhere,
 * so --back-to-stock names the order items Magento would have flagged. Then, in ONE transaction
 * on that connection (like Magento's AbstractDb::save()), the observer's execute() runs with an
 * Observer/Event carrying the model, and the transaction commits.
 *
 * The order carries its sales_order_payment model (additional_information JSON-decoded, as
 * Magento's payment resource model unserializes it), so M2E Pro's payment data is in memory; M2E
 * Pro's own tables (m2epro_order, ...) are read by the module from the database.
 * --api-refund: the credit memo as RefundOrderInterface builds it (no item has a back_to_stock
 * flag). --m2epro-created: M2E Pro's registry flag m2epro_extension_skip_shipment_observer is set.
 * "track": a track saved after its shipment (sales_order_shipment_track_save_after), its shipment
 * loaded as above.
 *
 * Config: the module's etc/config.xml defaults (enabled, default Amazon order id pattern);
 * --disabled sets refund_bridge/general/enabled = 0.
 *
 * Output: the id of the outbox row this run inserted, or "none" (not an Amazon order, disabled,
 * or the row already existed). Exit 0; on any error the message goes to stderr, exit 1.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Bin;

use Magento\Framework\App\ResourceConnection;
use Magento\Framework\DB\Adapter\Pdo\Mysql;
use Magento\Framework\Event;
use Magento\Framework\Event\Observer;
use Magento\Sales\Model\Order;
use Magento\Sales\Model\Order\Creditmemo;
use Magento\Framework\Registry;
use Magento\Sales\Model\Order\Item as OrderItem;
use Magento\Sales\Model\Order\Payment;
use Magento\Sales\Model\Order\Shipment;
use RefundBridge\Outbox\Model\Config;
use RefundBridge\Outbox\Model\M2ePro\OriginDetector;
use RefundBridge\Outbox\Model\OutboxWriter;
use RefundBridge\Outbox\Observer\CreditmemoSaveObserver;
use RefundBridge\Outbox\Observer\ShipmentSaveObserver;
use RefundBridge\Outbox\Observer\ShipmentTrackSaveObserver;
use RefundBridge\Outbox\Test\Integration\Support\ArrayLogger;
use RefundBridge\Outbox\Test\Integration\Support\ArrayScopeConfig;
use RefundBridge\Outbox\Test\Integration\Support\ModuleFactory;

require dirname(__DIR__) . '/autoload.php';

const USAGE = 'usage: php observe.php creditmemo <entity_id> [--back-to-stock=<order_item_id,...>|--api-refund] [--disabled]'
    . "\n       php observe.php shipment <entity_id> [--disabled] [--m2epro-created]"
    . "\n       php observe.php track <track_entity_id> [--disabled]";

/**
 * The stand-in adapter, additionally keeping what each insertOnDuplicate() returned
 * (1 = inserted, 0 = the row already existed).
 */
final class RecordingMysql extends Mysql
{
    /** @var list<int> */
    public array $insertResults = [];

    public function insertOnDuplicate($table, array $data, array $fields = [])
    {
        $affected = (int) parent::insertOnDuplicate($table, $data, $fields);
        $this->insertResults[] = $affected;

        return $affected;
    }
}

/** The module's log lines go to stderr (the caller shows them on failure). */
final class StderrLogger implements \Psr\Log\LoggerInterface
{
    public function emergency($message, array $context = []): void { $this->log('emergency', $message); }
    public function alert($message, array $context = []): void { $this->log('alert', $message); }
    public function critical($message, array $context = []): void { $this->log('critical', $message); }
    public function error($message, array $context = []): void { $this->log('error', $message); }
    public function warning($message, array $context = []): void { $this->log('warning', $message); }
    public function notice($message, array $context = []): void { $this->log('notice', $message); }
    public function info($message, array $context = []): void { $this->log('info', $message); }
    public function debug($message, array $context = []): void { $this->log('debug', $message); }

    public function log($level, $message, array $context = []): void
    {
        fwrite(STDERR, "observe.php: log $level: $message\n");
    }
}

/**
 * @param list<string> $args argv without the script name
 * @return array{event: string, entityId: int, backToStock: list<int>, disabled: bool, apiRefund: bool, m2eproCreated: bool}
 */
function parseArgs(array $args): array
{
    $positional = [];
    $backToStock = [];
    $backToStockGiven = false;
    $disabled = false;
    $apiRefund = false;
    $m2eproCreated = false;
    foreach ($args as $arg) {
        if ($arg === '--disabled') {
            $disabled = true;
        } elseif ($arg === '--api-refund') {
            $apiRefund = true;
        } elseif ($arg === '--m2epro-created') {
            $m2eproCreated = true;
        } elseif (str_starts_with($arg, '--back-to-stock=')) {
            $backToStockGiven = true;
            $list = substr($arg, strlen('--back-to-stock='));
            foreach ($list === '' ? [] : explode(',', $list) as $id) {
                $backToStock[] = positiveInt(trim($id), 'order item id in --back-to-stock');
            }
        } elseif (str_starts_with($arg, '-')) {
            throw new \InvalidArgumentException("unknown option $arg\n" . USAGE);
        } else {
            $positional[] = $arg;
        }
    }
    if (count($positional) !== 2) {
        throw new \InvalidArgumentException(USAGE);
    }
    [$event, $entityId] = $positional;
    if (!in_array($event, [OutboxWriter::EVENT_CREDITMEMO, OutboxWriter::EVENT_SHIPMENT, OutboxWriter::EVENT_TRACK], true)) {
        throw new \InvalidArgumentException("unknown event \"$event\"\n" . USAGE);
    }
    if (($backToStockGiven || $apiRefund) && $event !== OutboxWriter::EVENT_CREDITMEMO) {
        throw new \InvalidArgumentException("--back-to-stock and --api-refund apply to credit memos only\n" . USAGE);
    }
    if ($backToStockGiven && $apiRefund) {
        throw new \InvalidArgumentException("--api-refund sets no back_to_stock flag; do not combine it with --back-to-stock\n" . USAGE);
    }

    return [
        'event' => $event,
        'entityId' => positiveInt($entityId, 'entity id'),
        'backToStock' => array_values(array_unique($backToStock)),
        'disabled' => $disabled,
        'apiRefund' => $apiRefund,
        'm2eproCreated' => $m2eproCreated,
    ];
}

function positiveInt(string $value, string $what): int
{
    if (!preg_match('/^[1-9]\d{0,9}$/D', $value)) {
        throw new \InvalidArgumentException("invalid $what \"$value\" (expected a positive integer)");
    }

    return (int) $value;
}

function connect(): \PDO
{
    $env = static function (string $name, string $default): string {
        $value = getenv($name);

        return $value === false ? $default : $value;
    };
    $name = getenv('TEST_DB_NAME');
    if ($name === false || $name === '') {
        throw new \InvalidArgumentException('environment variable TEST_DB_NAME is required');
    }
    $dsn = sprintf(
        'mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4',
        $env('TEST_DB_HOST', '127.0.0.1'),
        positiveInt($env('TEST_DB_PORT', '3306'), 'TEST_DB_PORT'),
        $name
    );

    return new \PDO($dsn, $env('TEST_DB_USER', 'root'), $env('TEST_DB_PASSWORD', ''), [
        \PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION,
        \PDO::ATTR_DEFAULT_FETCH_MODE => \PDO::FETCH_ASSOC,
        \PDO::ATTR_TIMEOUT => 5,
        // Every value a string (decimals included), like the rows Magento's models are loaded from.
        \PDO::ATTR_EMULATE_PREPARES => true,
        \PDO::ATTR_STRINGIFY_FETCHES => true,
        // Magento's connection runs in UTC, so timestamps read back as Magento's UTC values.
        \PDO::MYSQL_ATTR_INIT_COMMAND => "SET time_zone = '+00:00'",
    ]);
}

/**
 * @param list<int|string> $params
 * @return list<array<string, ?string>>
 */
function fetchRows(\PDO $pdo, string $sql, array $params, string $what): array
{
    $stmt = $pdo->prepare($sql);
    $stmt->execute($params);
    $rows = $stmt->fetchAll();
    foreach ($rows as $row) {
        foreach ($row as $column => $value) {
            if ($value !== null && !is_string($value)) {
                throw new \UnexpectedValueException(sprintf(
                    '%s.%s was fetched as %s, not as a string; amounts must never be floats',
                    $what,
                    $column,
                    get_debug_type($value)
                ));
            }
        }
    }

    return $rows;
}

/**
 * @return array<string, ?string>
 */
function fetchOneRow(\PDO $pdo, string $table, string $pk, int $id): array
{
    $rows = fetchRows($pdo, "SELECT * FROM `$table` WHERE `$pk` = ?", [$id], $table);
    if ($rows === []) {
        throw new \RuntimeException("$table $pk=$id not found");
    }

    return $rows[0];
}

/**
 * The order as Magento holds it: the sales_order row plus all its sales_order_item models.
 *
 * @return array{0: Order, 1: array<int, OrderItem>} order and its items by item_id
 */
function loadOrder(\PDO $pdo, int $orderId): array
{
    $order = new Order(fetchOneRow($pdo, 'sales_order', 'entity_id', $orderId));
    $items = [];
    foreach (fetchRows($pdo, 'SELECT * FROM `sales_order_item` WHERE `order_id` = ? ORDER BY `item_id`', [$orderId], 'sales_order_item') as $row) {
        $items[(int) $row['item_id']] = new OrderItem($row);
    }
    foreach ($items as $item) {
        $parentId = $item->getData('parent_item_id');
        if ($parentId !== null && isset($items[(int) $parentId])) {
            $item->setParentItem($items[(int) $parentId]);
        }
    }
    $order->setItems(array_values($items));
    $payments = fetchRows($pdo, 'SELECT * FROM `sales_order_payment` WHERE `parent_id` = ? ORDER BY `entity_id` LIMIT 1', [$orderId], 'sales_order_payment');
    if ($payments !== []) {
        $row = $payments[0];
        $info = $row['additional_information'] === null ? [] : json_decode($row['additional_information'], true);
        $row['additional_information'] = is_array($info) ? $info : [];
        $order->setPayment(new Payment($row));
    }

    return [$order, $items];
}

/**
 * @param array<int, OrderItem> $orderItems
 */
function orderItemOf(array $orderItems, array $row, string $table): OrderItem
{
    $orderItemId = $row['order_item_id'] === null ? 0 : (int) $row['order_item_id'];
    if (!isset($orderItems[$orderItemId])) {
        throw new \RuntimeException(sprintf(
            '%s %s: order item %s is not an item of its order',
            $table,
            $row['entity_id'],
            var_export($row['order_item_id'], true)
        ));
    }

    return $orderItems[$orderItemId];
}

/**
 * @param list<int> $backToStock order item ids flagged "Return to Stock"
 */
function loadCreditmemo(\PDO $pdo, int $entityId, array $backToStock, bool $apiRefund = false): Creditmemo
{
    $creditmemo = new Creditmemo(fetchOneRow($pdo, 'sales_creditmemo', 'entity_id', $entityId));
    [$order, $orderItems] = loadOrder($pdo, (int) $creditmemo->getData('order_id'));
    $creditmemo->setOrder($order);
    $items = [];
    $flagged = [];
    foreach (fetchRows($pdo, 'SELECT * FROM `sales_creditmemo_item` WHERE `parent_id` = ? ORDER BY `entity_id`', [$entityId], 'sales_creditmemo_item') as $row) {
        $item = new Creditmemo\Item($row);
        $item->setOrderItem(orderItemOf($orderItems, $row, 'sales_creditmemo_item'));
        // Magento's CreditmemoLoader: setBackToStock(isset($backToStock[$orderItemId])) on every item.
        $isBack = in_array((int) $row['order_item_id'], $backToStock, true);
        if (!$apiRefund) {
            // RefundOrderInterface (CreditmemoDocumentFactory) sets no flag at all.
            $item->setBackToStock($isBack);
        }
        if ($isBack) {
            $flagged[] = (int) $row['order_item_id'];
        }
        $items[] = $item;
    }
    $unknown = array_diff($backToStock, $flagged);
    if ($unknown !== []) {
        throw new \InvalidArgumentException(sprintf(
            '--back-to-stock: order item(s) %s are not on credit memo %d',
            implode(',', $unknown),
            $entityId
        ));
    }
    $creditmemo->setItems($items);

    return $creditmemo;
}

function loadShipment(\PDO $pdo, int $entityId): Shipment
{
    $shipment = new Shipment(fetchOneRow($pdo, 'sales_shipment', 'entity_id', $entityId));
    [$order, $orderItems] = loadOrder($pdo, (int) $shipment->getData('order_id'));
    $shipment->setOrder($order);
    $items = [];
    foreach (fetchRows($pdo, 'SELECT * FROM `sales_shipment_item` WHERE `parent_id` = ? ORDER BY `entity_id`', [$entityId], 'sales_shipment_item') as $row) {
        $item = new Shipment\Item($row);
        $item->setOrderItem(orderItemOf($orderItems, $row, 'sales_shipment_item'));
        $items[] = $item;
    }
    $shipment->setItems($items);
    $tracks = [];
    foreach (fetchRows($pdo, 'SELECT * FROM `sales_shipment_track` WHERE `parent_id` = ? ORDER BY `entity_id`', [$entityId], 'sales_shipment_track') as $row) {
        $tracks[] = (new Shipment\Track($row))->setShipment($shipment);
    }
    // Loaded rows are the tracks collection (as Magento's getTracksCollection()).
    $shipment->setTracksCollectionItems($tracks);

    return $shipment;
}

/**
 * @param list<string> $args
 * @return ?int the id of the outbox row this run inserted
 */
function run(array $args): ?int
{
    $options = parseArgs($args);
    $pdo = connect();
    $adapter = new RecordingMysql($pdo);
    $resource = new ResourceConnection($adapter);
    $scopeConfig = new ArrayScopeConfig();
    if ($options['disabled']) {
        $scopeConfig->set(Config::XML_PATH_ENABLED, '0');
    }
    $registry = new Registry();
    if ($options['m2eproCreated']) {
        $registry->register(OriginDetector::SKIP_SHIPMENT_OBSERVER_KEY, true);
    }
    $writer = ModuleFactory::writer($resource, $scopeConfig, new StderrLogger(), $registry);

    if ($options['event'] === OutboxWriter::EVENT_CREDITMEMO) {
        $model = loadCreditmemo($pdo, $options['entityId'], $options['backToStock'], $options['apiRefund']);
        $observer = new CreditmemoSaveObserver($writer);
        $eventData = ['name' => 'sales_order_creditmemo_save_after', 'data_object' => $model, 'creditmemo' => $model];
    } elseif ($options['event'] === OutboxWriter::EVENT_TRACK) {
        $row = fetchOneRow($pdo, 'sales_shipment_track', 'entity_id', $options['entityId']);
        $shipment = loadShipment($pdo, (int) $row['parent_id']);
        $model = null;
        foreach ($shipment->getTracksCollection() as $track) {
            if ((int) $track->getEntityId() === $options['entityId']) {
                $model = $track;
            }
        }
        $observer = new ShipmentTrackSaveObserver($writer);
        $eventData = ['name' => 'sales_order_shipment_track_save_after', 'data_object' => $model, 'track' => $model];
    } else {
        $model = loadShipment($pdo, $options['entityId']);
        $observer = new ShipmentSaveObserver($writer);
        $eventData = ['name' => 'sales_order_shipment_save_after', 'data_object' => $model, 'shipment' => $model];
    }

    $adapter->beginTransaction();
    try {
        $observer->execute(new Observer(['event' => new Event($eventData)]));
        $outboxId = null;
        if (in_array(1, $adapter->insertResults, true)) {
            $id = $adapter->fetchOne(
                sprintf(
                    'SELECT `id` FROM %s WHERE `event_type` = ? AND `entity_id` = ?',
                    $adapter->quoteIdentifier($resource->getTableName(OutboxWriter::TABLE))
                ),
                [$options['event'], $options['entityId']]
            );
            if ($id === false) {
                throw new \RuntimeException('the observer inserted an outbox row that cannot be read back');
            }
            $outboxId = (int) $id;
        }
        $adapter->commit();
    } catch (\Throwable $e) {
        $adapter->rollBack();
        throw $e;
    }

    return $outboxId;
}

try {
    /** @var list<string> $argv */
    $id = run(array_slice($argv, 1));
    fwrite(STDOUT, ($id === null ? 'none' : (string) $id) . "\n");
    exit(0);
} catch (\Throwable $e) {
    fwrite(STDERR, 'observe.php: ' . ($e instanceof \InvalidArgumentException ? '' : get_class($e) . ': ') . $e->getMessage() . "\n");
    exit(1);
}

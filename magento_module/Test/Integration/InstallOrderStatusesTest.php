<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use Magento\Framework\DB\Adapter\AdapterInterface;
use Magento\Framework\Setup\ModuleDataSetupInterface;
use RefundBridge\Outbox\Setup\Patch\Data\InstallOrderStatuses;

/**
 * The data patch installs the custom statuses on a store with a table prefix (Magento's
 * ModuleDataSetup::getTable() returns the prefixed name), assigned to their states, visible on
 * front (so refunded orders stay in the customer's "My Orders"), and re-running it changes no row
 * an admin edited.
 */
final class InstallOrderStatusesTest extends IntegrationTestCase
{
    private const PREFIX = 'pfx_';
    private const TABLES = ['sales_order_status', 'sales_order_status_state'];

    protected function setUp(): void
    {
        parent::setUp();
        foreach (self::TABLES as $table) {
            $this->pdo->exec('DROP TABLE IF EXISTS `' . self::PREFIX . $table . '`');
            $this->pdo->exec('CREATE TABLE `' . self::PREFIX . $table . '` LIKE `' . $table . '`');
        }
    }

    protected function tearDown(): void
    {
        foreach (array_reverse(self::TABLES) as $table) {
            $this->pdo->exec('DROP TABLE IF EXISTS `' . self::PREFIX . $table . '`');
        }
    }

    private function dataSetup(): ModuleDataSetupInterface
    {
        return new class ($this->adapter, self::PREFIX) implements ModuleDataSetupInterface {
            private AdapterInterface $connection;
            private string $prefix;

            public function __construct(AdapterInterface $connection, string $prefix)
            {
                $this->connection = $connection;
                $this->prefix = $prefix;
            }

            public function getConnection()
            {
                return $this->connection;
            }

            public function getTable($tableName, $connectionName = 'default')
            {
                return $this->prefix . $tableName;
            }

            public function startSetup()
            {
                return $this;
            }

            public function endSetup()
            {
                return $this;
            }
        };
    }

    public function testStatusesArePrefixAwareAssignedAndIdempotent(): void
    {
        (new InstallOrderStatuses($this->dataSetup()))->apply();

        $statuses = $this->pdo->query('SELECT status, label FROM pfx_sales_order_status')->fetchAll(\PDO::FETCH_KEY_PAIR);
        ksort($statuses);
        $this->assertSame([
            'amazon_cancel_requested' => 'Amazon: cancellation requested',
            'amazon_canceled' => 'Amazon canceled',
            'amazon_refund_failed' => 'Amazon refund failed',
            'amazon_refund_pending' => 'Amazon refund pending',
            'amazon_refunded' => 'Amazon refunded',
        ], $statuses);
        $states = $this->pdo->query(
            "SELECT CONCAT(status, '@', state, ':', is_default, visible_on_front) FROM pfx_sales_order_status_state"
            . " WHERE status = 'amazon_cancel_requested' ORDER BY state"
        )->fetchAll(\PDO::FETCH_COLUMN);
        $this->assertSame(['amazon_cancel_requested@new:01', 'amazon_cancel_requested@processing:01'], $states);
        $this->assertSame(13, (int) $this->pdo->query('SELECT COUNT(*) FROM pfx_sales_order_status_state')->fetchColumn());
        // nothing went to the unprefixed tables
        $this->assertSame(0, (int) $this->pdo->query("SELECT COUNT(*) FROM sales_order_status WHERE status LIKE 'amazon%'")->fetchColumn());

        // an admin renames a label and changes visibility; a re-run keeps both
        $this->pdo->exec("UPDATE pfx_sales_order_status SET label = 'Remboursé par Amazon' WHERE status = 'amazon_refunded'");
        $this->pdo->exec("UPDATE pfx_sales_order_status_state SET visible_on_front = 0 WHERE status = 'amazon_refunded' AND state = 'closed'");
        (new InstallOrderStatuses($this->dataSetup()))->apply();
        $this->assertSame('Remboursé par Amazon', $this->pdo->query("SELECT label FROM pfx_sales_order_status WHERE status = 'amazon_refunded'")->fetchColumn());
        $this->assertSame('0', $this->pdo->query("SELECT visible_on_front FROM pfx_sales_order_status_state WHERE status = 'amazon_refunded' AND state = 'closed'")->fetchColumn());
    }

    /** The four statuses of sql/mysql/005 plus amazon_cancel_requested, with the same states. */
    public function testSameStatusesAsTheSidecarsSql(): void
    {
        $sql = (string) file_get_contents(dirname(__DIR__, 3) . '/sql/mysql/005_order_statuses.sql');
        preg_match_all("/\('(amazon_[a-z_]+)',\s*'([a-z_]+)',\s*0,\s*1\)/", $sql, $m, PREG_SET_ORDER);
        $fromSql = [];
        foreach ($m as [, $status, $state]) {
            $fromSql[$status][] = $state;
        }
        $fromPatch = array_map(static fn (array $s): array => $s[1], InstallOrderStatuses::STATUSES);
        unset($fromPatch['amazon_cancel_requested']);
        $this->assertSame($fromSql, $fromPatch);
        $this->assertSame(['processing', 'new'], InstallOrderStatuses::STATUSES['amazon_cancel_requested'][1]);
    }
}

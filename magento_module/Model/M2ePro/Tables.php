<?php
/**
 * Reads M2E Pro's own tables (names and columns from M2E Pro's Model/Setup/Installer.php), on
 * the sales connection, inside the credit memo's / shipment's transaction. Every table name
 * goes through getTableName(), so a table prefix is honoured. Nothing is read when the tables
 * do not exist (no M2E Pro installed).
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\M2ePro;

use Magento\Framework\App\ResourceConnection;
use Magento\Framework\DB\Adapter\AdapterInterface;
use RefundBridge\Outbox\Model\OutboxWriter;

class Tables
{
    public const ORDER = 'm2epro_order';
    public const AMAZON_ORDER = 'm2epro_amazon_order';
    public const AMAZON_ACCOUNT = 'm2epro_amazon_account';
    public const CONFIG = 'm2epro_config';
    public const COMPONENT_AMAZON = 'amazon';

    private ResourceConnection $resource;
    /** @var array<string, bool> */
    private array $exists = [];

    public function __construct(ResourceConnection $resource)
    {
        $this->resource = $resource;
    }

    public function exist(string ...$tables): bool
    {
        foreach ($tables as $table) {
            if (!isset($this->exists[$table])) {
                $this->exists[$table] = (bool) $this->connection()->isTableExists($this->resource->getTableName($table));
            }
            if (!$this->exists[$table]) {
                return false;
            }
        }

        return true;
    }

    /**
     * The M2E Pro Amazon order linked to a Magento order.
     *
     * @return array{account_id: ?int, amazon_order_id: ?string}|null
     */
    public function findAmazonOrder(int $magentoOrderId): ?array
    {
        if ($magentoOrderId <= 0 || !$this->exist(self::ORDER, self::AMAZON_ORDER)) {
            return null;
        }
        $c = $this->connection();
        $row = $c->fetchRow(
            'SELECT o.' . $c->quoteIdentifier('account_id') . ', ao.' . $c->quoteIdentifier('amazon_order_id')
            . ' FROM ' . $c->quoteIdentifier($this->resource->getTableName(self::ORDER)) . ' AS o'
            . ' LEFT JOIN ' . $c->quoteIdentifier($this->resource->getTableName(self::AMAZON_ORDER)) . ' AS ao'
            . ' ON ao.' . $c->quoteIdentifier('order_id') . ' = o.' . $c->quoteIdentifier('id')
            . ' WHERE o.' . $c->quoteIdentifier('magento_order_id') . ' = ?'
            . ' AND o.' . $c->quoteIdentifier('component_mode') . ' = ?'
            . ' ORDER BY o.' . $c->quoteIdentifier('id') . ' DESC LIMIT 1',
            [$magentoOrderId, self::COMPONENT_AMAZON]
        );
        if (!is_array($row)) {
            return null;
        }
        $id = isset($row['amazon_order_id']) ? trim((string) $row['amazon_order_id']) : '';

        return [
            'account_id' => isset($row['account_id']) ? (int) $row['account_id'] : null,
            'amazon_order_id' => $id === '' ? null : $id,
        ];
    }

    /**
     * M2E Pro's account setting "Cancel or Refund if Credit Memo is Created":
     * m2epro_amazon_account.magento_orders_settings (JSON) refund_and_cancellation.refund_mode,
     * read as M2E's Amazon\Account::isRefundEnabled() does (a missing key is off; M2E's default
     * for new accounts is 1, Amazon\Account\Builder).
     *
     * @return bool|null null when the account row or its JSON cannot be read
     */
    public function refundsOnCreditmemo(int $accountId): ?bool
    {
        if (!$this->exist(self::AMAZON_ACCOUNT)) {
            return null;
        }
        $c = $this->connection();
        $json = $c->fetchOne(
            'SELECT ' . $c->quoteIdentifier('magento_orders_settings')
            . ' FROM ' . $c->quoteIdentifier($this->resource->getTableName(self::AMAZON_ACCOUNT))
            . ' WHERE ' . $c->quoteIdentifier('account_id') . ' = ?',
            [$accountId]
        );
        if (!is_string($json)) {
            return null;
        }
        try {
            $settings = json_decode($json, true, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            return null;
        }
        if (!is_array($settings)) {
            return null;
        }
        $mode = $settings['refund_and_cancellation']['refund_mode'] ?? null;

        return $mode !== null && (bool) $mode;
    }

    /**
     * M2E Pro's Amazon part on or off: m2epro_config group "/component/amazon/", key "mode"
     * (Helper\Component\Amazon::isEnabled() = (bool) the value; a missing row is off). M2E Pro's
     * credit memo observer does nothing while it is off.
     *
     * @return bool|null null when m2epro_config does not exist
     */
    public function amazonComponentEnabled(): ?bool
    {
        if (!$this->exist(self::CONFIG)) {
            return null;
        }
        $c = $this->connection();
        $value = $c->fetchOne(
            'SELECT ' . $c->quoteIdentifier('value')
            . ' FROM ' . $c->quoteIdentifier($this->resource->getTableName(self::CONFIG))
            . ' WHERE ' . $c->quoteIdentifier('group') . ' = ? AND ' . $c->quoteIdentifier('key') . ' = ?',
            ['/component/amazon/', 'mode']
        );

        return $value !== false && (bool) $value;
    }

    private function connection(): AdapterInterface
    {
        return $this->resource->getConnection(OutboxWriter::CONNECTION_NAME);
    }
}

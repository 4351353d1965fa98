<?php
// Test stand-in for Magento\Framework\DB\Adapter\Pdo\Mysql over a real PDO connection.
declare(strict_types=1);

namespace Magento\Framework\DB\Adapter\Pdo;

use Magento\Framework\DB\Adapter\AdapterInterface;

class Mysql implements AdapterInterface
{
    /** @var list<string> method calls, for assertions ("beginTransaction", "insertOnDuplicate", ...) */
    public array $calls = [];

    private \PDO $pdo;
    private int $transactionLevel = 0;

    public function __construct(\PDO $pdo)
    {
        $this->pdo = $pdo;
    }

    public function getConnection(): \PDO
    {
        return $this->pdo;
    }

    public function getTransactionLevel(): int
    {
        return $this->transactionLevel;
    }

    public function beginTransaction()
    {
        $this->calls[] = __FUNCTION__;
        if ($this->transactionLevel === 0) {
            $this->pdo->beginTransaction();
        }
        $this->transactionLevel++;

        return $this;
    }

    public function commit()
    {
        $this->calls[] = __FUNCTION__;
        if ($this->transactionLevel === 1) {
            $this->pdo->commit();
        }
        $this->transactionLevel = max(0, $this->transactionLevel - 1);

        return $this;
    }

    public function rollBack()
    {
        $this->calls[] = __FUNCTION__;
        if ($this->transactionLevel === 1) {
            $this->pdo->rollBack();
        }
        $this->transactionLevel = max(0, $this->transactionLevel - 1);

        return $this;
    }

    /**
     * Same SQL as Magento: INSERT INTO `t` (`a`, ...) VALUES (?, ...)
     * ON DUPLICATE KEY UPDATE `f` = VALUES(`f`), ...
     */
    public function insertOnDuplicate($table, array $data, array $fields = [])
    {
        $this->calls[] = __FUNCTION__;
        $row = isset($data[0]) && is_array($data[0]) ? $data[0] : $data;
        if (count($data) !== count($row) || $row === []) {
            throw new \InvalidArgumentException('Test stand-in supports one row only');
        }
        $columns = array_keys($row);
        $sql = sprintf(
            'INSERT INTO %s (%s) VALUES (%s)',
            $this->quoteIdentifier($table),
            implode(', ', array_map([$this, 'quoteIdentifier'], $columns)),
            implode(', ', array_fill(0, count($columns), '?'))
        );
        if ($fields === []) {
            $fields = $columns;
        }
        $updates = [];
        foreach ($fields as $field) {
            $q = $this->quoteIdentifier($field);
            $updates[] = "$q = VALUES($q)";
        }
        $sql .= ' ON DUPLICATE KEY UPDATE ' . implode(', ', $updates);
        $stmt = $this->pdo->prepare($sql);
        $stmt->execute(array_values($row));

        return $stmt->rowCount();
    }

    public function fetchOne($sql, $bind = [])
    {
        $this->calls[] = __FUNCTION__;
        $stmt = $this->pdo->prepare($sql);
        $stmt->execute(array_values((array) $bind));

        return $stmt->fetchColumn(0);
    }

    public function fetchRow($sql, $bind = [], $fetchMode = null)
    {
        $this->calls[] = __FUNCTION__;
        $stmt = $this->pdo->prepare($sql);
        $stmt->execute(array_values((array) $bind));

        return $stmt->fetch(\PDO::FETCH_ASSOC);
    }

    /**
     * Magento's Pdo\Mysql::isTableExists(): SHOW TABLE STATUS LIKE for the table (false when absent).
     */
    public function isTableExists($tableName, $schemaName = null)
    {
        $this->calls[] = __FUNCTION__;
        $stmt = $this->pdo->prepare('SHOW TABLES LIKE ?');
        $stmt->execute([addcslashes((string) $tableName, '_%\\')]);

        return $stmt->fetchColumn(0) !== false;
    }

    public function quoteIdentifier($ident, $auto = false)
    {
        return '`' . str_replace('`', '``', (string) $ident) . '`';
    }
}

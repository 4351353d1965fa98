<?php
// Test stand-in for Magento\Framework\DB\Adapter\AdapterInterface: only the methods the module and tests use.
declare(strict_types=1);

namespace Magento\Framework\DB\Adapter;

interface AdapterInterface
{
    /** @return $this */
    public function beginTransaction();

    /** @return $this */
    public function commit();

    /** @return $this */
    public function rollBack();

    /** @return int affected rows */
    public function insertOnDuplicate($table, array $data, array $fields = []);

    /** @return mixed first column of the first row, false if none */
    public function fetchOne($sql, $bind = []);

    /** @return array<string, mixed>|false the first row, false if none */
    public function fetchRow($sql, $bind = [], $fetchMode = null);

    /** @return bool whether the table exists (Magento: SHOW TABLE STATUS / DESCRIBE, cached per adapter) */
    public function isTableExists($tableName, $schemaName = null);

    /** @return string */
    public function quoteIdentifier($ident, $auto = false);
}

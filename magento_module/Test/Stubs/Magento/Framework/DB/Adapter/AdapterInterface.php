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

    /** @return string */
    public function quoteIdentifier($ident, $auto = false);
}

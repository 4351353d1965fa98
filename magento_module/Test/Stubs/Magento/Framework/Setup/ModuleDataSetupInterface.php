<?php
// Test stand-in for Magento\Framework\Setup\ModuleDataSetupInterface: getConnection(),
// getTable() (prefix-aware, like Magento's Setup::getTable() -> ResourceConnection::getTableName()).
declare(strict_types=1);

namespace Magento\Framework\Setup;

use Magento\Framework\DB\Adapter\AdapterInterface;

interface ModuleDataSetupInterface
{
    public function getConnection();

    public function getTable($tableName, $connectionName = 'default');

    public function startSetup();

    public function endSetup();
}

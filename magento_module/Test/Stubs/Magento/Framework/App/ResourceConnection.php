<?php
// Test stand-in for Magento\Framework\App\ResourceConnection: one adapter for every resource name.
declare(strict_types=1);

namespace Magento\Framework\App;

use Magento\Framework\DB\Adapter\AdapterInterface;

class ResourceConnection
{
    public const DEFAULT_CONNECTION = 'default';

    /** @var list<string> resource names passed to getConnection(), for assertions */
    public array $requestedConnections = [];

    private AdapterInterface $connection;
    /** @var array<string, string> */
    private array $tableNames;

    /** @param array<string, string> $tableNames overrides, e.g. to point a table at a missing one */
    public function __construct(AdapterInterface $connection, array $tableNames = [])
    {
        $this->connection = $connection;
        $this->tableNames = $tableNames;
    }

    public function getConnection($resourceName = self::DEFAULT_CONNECTION): AdapterInterface
    {
        $this->requestedConnections[] = $resourceName;

        return $this->connection;
    }

    public function getTableName($modelEntity, $connectionName = self::DEFAULT_CONNECTION): string
    {
        return $this->tableNames[$modelEntity] ?? $modelEntity;
    }
}

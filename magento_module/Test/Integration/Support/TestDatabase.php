<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration\Support;

/**
 * Test database settings (env), creation and schema loading.
 */
final class TestDatabase
{
    public static ?string $unavailableReason = null;

    /** Fixture tables, children first (drop order). */
    public const TABLES = [
        'refund_bridge_outbox',
        'm2epro_config', 'm2epro_order', 'm2epro_amazon_order', 'm2epro_amazon_account',
        'sales_shipment_track', 'sales_shipment_item', 'sales_shipment',
        'sales_creditmemo_item', 'sales_creditmemo',
        'sales_order_status_history', 'sales_order_grid', 'sales_order_payment', 'sales_order_item', 'sales_order',
        'sales_order_status_label', 'sales_order_status_state', 'sales_order_status',
    ];

    /** @return array{host:string,port:int,user:string,password:string,name:string} */
    public static function config(): array
    {
        $env = static function (string $name, string $default): string {
            $value = getenv($name);

            return $value === false ? $default : $value;
        };

        return [
            'host' => $env('TEST_DB_HOST', '127.0.0.1'),
            'port' => (int) $env('TEST_DB_PORT', '3306'),
            'user' => $env('TEST_DB_USER', 'root'),
            'password' => $env('TEST_DB_PASSWORD', ''),
            'name' => $env('TEST_DB_NAME', 'refund_bridge_php_test'),
        ];
    }

    public static function describe(): string
    {
        $c = self::config();

        return sprintf('%s@%s:%d/%s', $c['user'], $c['host'], $c['port'], $c['name']);
    }

    public static function isCi(): bool
    {
        return in_array(strtolower((string) getenv('CI')), ['true', '1', 'yes'], true);
    }

    public static function isConnectionError(\PDOException $e): bool
    {
        // 2002 can't connect, 2003/2005 host, 2006 gone away, 1045 access denied, 1044 no DB access
        $code = (int) ($e->errorInfo[1] ?? $e->getCode());

        return in_array($code, [1044, 1045, 2002, 2003, 2005, 2006], true)
            || str_contains($e->getMessage(), 'SQLSTATE[HY000] [');
    }

    public static function connect(bool $withDatabase = true): \PDO
    {
        $c = self::config();
        $dsn = sprintf('mysql:host=%s;port=%d;charset=utf8mb4', $c['host'], $c['port']);
        if ($withDatabase) {
            $dsn .= ';dbname=' . $c['name'];
        }

        return new \PDO($dsn, $c['user'], $c['password'], [
            \PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION,
            \PDO::ATTR_DEFAULT_FETCH_MODE => \PDO::FETCH_ASSOC,
            \PDO::ATTR_TIMEOUT => 5,
            // Values as strings, like the rows Magento's models are loaded from.
            \PDO::ATTR_STRINGIFY_FETCHES => true,
            \PDO::MYSQL_ATTR_INIT_COMMAND => "SET time_zone = '+00:00'",
        ]);
    }

    public static function prepare(): void
    {
        $c = self::config();
        if (stripos($c['name'], 'test') === false && getenv('TEST_DB_ALLOW_ANY_NAME') !== '1') {
            throw new \RuntimeException(sprintf(
                'TEST_DB_NAME "%s" does not contain "test"; the tests drop and re-create sales_* tables.'
                . ' Set TEST_DB_ALLOW_ANY_NAME=1 if this really is a throw-away database.',
                $c['name']
            ));
        }
        $server = self::connect(false);
        $server->exec(sprintf(
            'CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci',
            str_replace('`', '``', $c['name'])
        ));
        $pdo = self::connect();
        foreach (self::TABLES as $table) {
            $pdo->exec("DROP TRIGGER IF EXISTS `{$table}_test_fail`");
            $pdo->exec("DROP TABLE IF EXISTS `$table`");
        }
        $repoRoot = dirname(__DIR__, 4);
        foreach ([$repoRoot . '/tests/fixtures/magento_sales.sql', $repoRoot . '/sql/mysql/001_outbox.sql'] as $file) {
            self::runSqlFile($pdo, $file);
        }
    }

    public static function runSqlFile(\PDO $pdo, string $file): void
    {
        $sql = file_get_contents($file);
        if ($sql === false) {
            throw new \RuntimeException("Cannot read $file");
        }
        foreach (self::splitStatements($sql) as $statement) {
            $pdo->exec($statement);
        }
    }

    /**
     * Splits an SQL script on ";" outside quotes and comments (one statement per exec() so an
     * error in any statement raises).
     *
     * @return list<string>
     */
    public static function splitStatements(string $sql): array
    {
        $statements = [];
        $current = '';
        $len = strlen($sql);
        for ($i = 0; $i < $len; $i++) {
            $ch = $sql[$i];
            $next = $sql[$i + 1] ?? '';
            if ($ch === '-' && $next === '-' || $ch === '#') {
                $end = strpos($sql, "\n", $i);
                $i = $end === false ? $len : $end;
                $current .= "\n";
                continue;
            }
            if ($ch === '/' && $next === '*') {
                $end = strpos($sql, '*/', $i + 2);
                $i = $end === false ? $len : $end + 1;
                continue;
            }
            if ($ch === "'" || $ch === '"' || $ch === '`') {
                $j = $i + 1;
                while ($j < $len) {
                    if ($sql[$j] === '\\' && $ch !== '`') {
                        $j += 2;
                        continue;
                    }
                    if ($sql[$j] === $ch) {
                        if (($sql[$j + 1] ?? '') === $ch) {
                            $j += 2;
                            continue;
                        }
                        break;
                    }
                    $j++;
                }
                $current .= substr($sql, $i, $j - $i + 1);
                $i = $j;
                continue;
            }
            if ($ch === ';') {
                if (trim($current) !== '') {
                    $statements[] = trim($current);
                }
                $current = '';
                continue;
            }
            $current .= $ch;
        }
        if (trim($current) !== '') {
            $statements[] = trim($current);
        }

        return $statements;
    }
}

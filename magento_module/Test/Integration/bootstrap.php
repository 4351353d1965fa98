<?php
/**
 * PHPUnit bootstrap: autoloads the module and the Magento stand-ins (Test/autoload.php), then prepares
 * the MariaDB/MySQL test database from env TEST_DB_HOST, TEST_DB_PORT, TEST_DB_USER,
 * TEST_DB_PASSWORD, TEST_DB_NAME (defaults 127.0.0.1, 3306, root, '', refund_bridge_php_test).
 *
 * The database is created if missing; the fixture tables (tests/fixtures/magento_sales.sql) and
 * the outbox (sql/mysql/001_outbox.sql) are dropped and re-created. The name must contain
 * "test" (set TEST_DB_ALLOW_ANY_NAME=1 to override) so a real shop database is never touched.
 * DB unreachable: DB tests are skipped, except with CI=true, where the run fails.
 */
declare(strict_types=1);

use RefundBridge\Outbox\Test\Integration\Support\TestDatabase;

require dirname(__DIR__) . '/autoload.php';

try {
    TestDatabase::prepare();
} catch (\PDOException $e) {
    if (!TestDatabase::isConnectionError($e)) {
        throw $e;
    }
    $message = sprintf(
        'MariaDB/MySQL test database %s unreachable: %s',
        TestDatabase::describe(),
        $e->getMessage()
    );
    if (TestDatabase::isCi()) {
        fwrite(STDERR, "FATAL (CI=true, DB tests must not be skipped): $message\n");
        exit(1);
    }
    TestDatabase::$unavailableReason = $message;
    fwrite(STDERR, "WARNING: $message; DB tests will be skipped.\n");
}

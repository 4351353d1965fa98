<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Unit;

use PHPUnit\Framework\TestCase;

/**
 * Observed: `module:disable RefundBridge_Outbox` + `setup:upgrade` dropped refund_bridge_outbox
 * with its unprocessed rows. Magento's declarative schema (Magento\Framework\Setup\Declaration\
 * Schema\Diff\Diff::canBeRegistered()) registers a destructive operation such as drop_table only
 * for a table listed in the db_schema_whitelist.json of a registered module (enabled or not,
 * ComponentRegistrar::getPaths()), and a disabled module's db_schema.xml is no longer declared, so
 * a whitelisted table is dropped. The module therefore declares the table (setup:upgrade creates
 * it) but never whitelists it: Magento never drops or alters it; its changes come from the
 * sidecar's sql/mysql migrations.
 */
final class DeclarativeSchemaTest extends TestCase
{
    private const ETC = __DIR__ . '/../../etc/';

    public function testOutboxIsDeclaredButNotWhitelisted(): void
    {
        $whitelist = json_decode((string) file_get_contents(self::ETC . 'db_schema_whitelist.json'), true, 512, JSON_THROW_ON_ERROR);
        $this->assertArrayNotHasKey('refund_bridge_outbox', $whitelist);
        $this->assertSame([], $whitelist);

        $schema = simplexml_load_file(self::ETC . 'db_schema.xml');
        $this->assertSame(['refund_bridge_outbox'], array_map('strval', $schema->xpath('/schema/table/@name')));
    }
}

<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Unit;

use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Model\Config;
use RefundBridge\Outbox\Test\Integration\Support\ArrayScopeConfig;

/**
 * The exception that fails the save must name the real PCRE problem, not an unrelated warning
 * PHP recorded earlier in the request (error_get_last() is process-wide).
 */
final class ConfigPatternErrorTest extends TestCase
{
    private function config(string $pattern): Config
    {
        return new Config((new ArrayScopeConfig())->set(Config::XML_PATH_AMAZON_ORDER_ID_PATTERN, $pattern));
    }

    private static function leaveAnUnrelatedWarning(): void
    {
        @file_get_contents(__DIR__ . '/does-not-exist.txt');
        self::assertNotNull(error_get_last());
    }

    public function testInvalidPatternReportsTheCompileErrorNotAStaleWarning(): void
    {
        self::leaveAnUnrelatedWarning();
        try {
            $this->config('^(\d{3}')->isAmazonOrderId('302-1234567-1234567', 1);
            $this->fail('expected UnexpectedValueException');
        } catch (\UnexpectedValueException $e) {
            $this->assertStringContainsString('is not a valid regular expression', $e->getMessage());
            $this->assertStringContainsString('missing closing parenthesis', $e->getMessage());
            $this->assertStringNotContainsString('does-not-exist', $e->getMessage());
        }
    }

    public function testRunTimePcreFailureIsReportedAsSuchNotAsAStaleWarning(): void
    {
        $limit = ini_get('pcre.backtrack_limit');
        $jit = ini_get('pcre.jit');
        ini_set('pcre.backtrack_limit', '100');
        ini_set('pcre.jit', '0');
        try {
            self::leaveAnUnrelatedWarning();
            $this->config('^(\d+)+$')->isAmazonOrderId(str_repeat('1', 25) . 'x', 1);
            $this->fail('expected UnexpectedValueException');
        } catch (\UnexpectedValueException $e) {
            $this->assertStringContainsString('could not be matched', $e->getMessage());
            $this->assertStringContainsString('Backtrack limit exhausted', $e->getMessage());
            $this->assertStringNotContainsString('does-not-exist', $e->getMessage());
        } finally {
            ini_set('pcre.backtrack_limit', (string) $limit);
            ini_set('pcre.jit', (string) $jit);
        }
    }
}

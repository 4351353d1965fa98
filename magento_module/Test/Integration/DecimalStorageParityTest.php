<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Model\DecimalString;
use RefundBridge\Outbox\Test\Integration\Support\TestDatabase;

/**
 * A float total Magento computed in memory must become the same string the credit memo row holds
 * after Magento saved it. Magento's save path for a decimal(20,4) column is
 * Pdo\Mysql::prepareColumnValue(): (float) sprintf('%16.4F', $value), bound as a statement
 * parameter. This test sends floats through that path into a real decimal(20,4) column and
 * compares what MySQL/MariaDB stored with DecimalString::normalize().
 */
final class DecimalStorageParityTest extends TestCase
{
    /** Magento\Framework\DB\Adapter\Pdo\Mysql::prepareColumnValue(), case 'decimal' (PRECISION 20, SCALE 4). */
    private static function magentoPrepareDecimal(float $value): float
    {
        $format = sprintf('%%%d.%dF', 20 - 4, 4);

        return (float) sprintf($format, $value);
    }

    /** @return list<float> */
    private static function floats(): array
    {
        $values = [
            0.03125, 0.09375, 0.15625, 12.34375, -12.34375, 2.5E-5, -2.5E-5, 0.5 / 32,
            1.00004999996, 1.00005, 1.00015, 2.67505, 123456789.12345, 0.1 + 0.2, 24.89,
            16.8 * 3, 19.99 / 1.19, 19.99 - 19.99 / 1.19, 4.9 / 1.19, 100 / 3, -100 / 3, 0.0, -0.0,
        ];
        mt_srand(20261126);
        for ($i = 0; $i < 300; $i++) {
            $price = mt_rand(1, 99999) / 100;          // a 2-decimal price
            $qty = mt_rand(1, 40) / 4;                  // qty with decimals
            $rate = mt_rand(0, 2700) / 10000;           // tax rate
            $values[] = $price * $qty;
            $values[] = $price * $qty * $rate;          // unrounded tax
            $values[] = $price / (1 + $rate);           // price excl. tax from incl. tax
            $values[] = mt_rand(0, 99999999) / 2 ** mt_rand(1, 12); // binary fractions, many exact ties
        }

        return $values;
    }

    public function testFloatsNormalizeToWhatMagentoStoresInDecimal204(): void
    {
        if (TestDatabase::$unavailableReason !== null) {
            $this->markTestSkipped(TestDatabase::$unavailableReason);
        }
        $pdo = TestDatabase::connect();
        $pdo->exec('CREATE TEMPORARY TABLE refund_bridge_decimal_probe (i INT NOT NULL PRIMARY KEY, v DECIMAL(20,4) NOT NULL)');
        $insert = $pdo->prepare('INSERT INTO refund_bridge_decimal_probe (i, v) VALUES (?, ?)');
        $values = self::floats();
        foreach ($values as $i => $value) {
            $insert->execute([$i, self::magentoPrepareDecimal($value)]);
        }
        $stored = $pdo->query('SELECT i, v FROM refund_bridge_decimal_probe ORDER BY i')->fetchAll(\PDO::FETCH_KEY_PAIR);

        $mismatches = [];
        foreach ($values as $i => $value) {
            $normalized = DecimalString::normalize($value);
            if ($normalized !== $stored[$i]) {
                $mismatches[] = sprintf('%s: stored %s, normalize() %s', json_encode($value), $stored[$i], $normalized);
            }
        }
        $this->assertSame([], $mismatches);
    }
}

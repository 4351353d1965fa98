<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Unit;

use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Model\DecimalString;

final class DecimalStringTest extends TestCase
{
    /** @return array<string, array{0: mixed, 1: ?string}> */
    public function values(): array
    {
        return [
            'db string kept' => ['16.8000', '16.8000'],
            'short string padded' => ['16.8', '16.8000'],
            'int' => [16, '16.0000'],
            'float as Magento computes it' => [24.89, '24.8900'],
            'float sum' => [0.1 + 0.2, '0.3000'],
            'half up' => ['9.99995', '10.0000'],
            'half away from zero' => ['-9.99995', '-10.0000'],
            'below half' => ['1.00004', '1.0000'],
            'negative zero' => ['-0.00001', '0.0000'],
            'leading zeros' => ['007.5', '7.5000'],
            'big money' => ['9999999999999999.9999', '9999999999999999.9999'],
            // Floats are rounded the way Magento's Pdo\Mysql::prepareColumnValue() rounds them
            // before saving (sprintf('%.4F')): the exact binary value, ties to even.
            'float exact tie, even digit kept' => [0.03125, '0.0312'],
            'float exact tie, odd digit rounded up' => [0.09375, '0.0938'],
            'negative float exact tie' => [-12.34375, '-12.3438'],
            'float just below a tie is not rounded twice' => [1.00004999996, '1.0000'],
            'float needing 15+ significant digits' => [123456789.12345, '123456789.1234'],
            'negative float rounding to zero' => [-0.00004, '0.0000'],
            'null' => [null, null],
            'empty' => ['', null],
        ];
    }

    /**
     * @dataProvider values
     * @param mixed $in
     */
    public function testNormalize($in, ?string $out): void
    {
        $this->assertSame($out, DecimalString::normalize($in));
    }

    public function testRejectsNonNumbers(): void
    {
        $this->expectException(\UnexpectedValueException::class);
        DecimalString::normalize('1e3');
    }
}

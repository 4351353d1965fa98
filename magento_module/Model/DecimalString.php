<?php
/**
 * Turns Magento money/quantity values into decimal strings with 4 decimals ("16.8000"),
 * the form MySQL returns for decimal(20,4) / decimal(12,4), without float arithmetic.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

final class DecimalString
{
    public const SCALE = 4;

    /**
     * @param mixed $value string (as loaded from MySQL), int, or float (a total Magento computed in memory)
     * @throws \UnexpectedValueException for non-numeric values
     */
    public static function normalize($value, int $scale = self::SCALE): ?string
    {
        if ($value === null || $value === '') {
            return null;
        }
        if (is_int($value)) {
            $value = (string) $value;
        } elseif (is_float($value)) {
            if (!is_finite($value)) {
                throw new \UnexpectedValueException('Amazon Refund Bridge: non-finite amount');
            }
            // Exactly what Magento stores: Pdo\Mysql::prepareColumnValue() turns a float for a
            // decimal(p,s) column into (float) sprintf('%<p-s>.<s>F', $value) before binding it,
            // so MySQL receives an already rounded value. sprintf('%.4F') rounds the exact binary
            // value (ties, which only exactly representable values such as 0.03125 can hit, go to
            // even). Rounding a 10-digit number_format() string again would round twice.
            $value = sprintf('%.' . $scale . 'F', $value);
        } elseif (!is_string($value)) {
            throw new \UnexpectedValueException('Amazon Refund Bridge: unsupported amount type ' . get_debug_type($value));
        }

        $value = trim($value);
        if (!preg_match('/^([+-]?)(\d*)(?:\.(\d*))?$/D', $value, $m) || ($m[2] === '' && ($m[3] ?? '') === '')) {
            throw new \UnexpectedValueException(sprintf('Amazon Refund Bridge: "%s" is not a decimal number', $value));
        }
        $negative = $m[1] === '-';
        $int = ltrim($m[2], '0');
        $frac = $m[3] ?? '';

        $roundUp = strlen($frac) > $scale && $frac[$scale] >= '5';
        $frac = str_pad(substr($frac, 0, $scale), $scale, '0');
        $digits = ($int === '' ? '0' : $int) . $frac;
        if ($roundUp) {
            $digits = self::increment($digits);
        }
        $int = ltrim(substr($digits, 0, strlen($digits) - $scale), '0');
        $int = $int === '' ? '0' : $int;
        $frac = $scale > 0 ? substr($digits, -$scale) : '';
        $isZero = trim($int . $frac, '0') === '';

        return ($negative && !$isZero ? '-' : '') . $int . ($scale > 0 ? '.' . $frac : '');
    }

    private static function increment(string $digits): string
    {
        $i = strlen($digits) - 1;
        while ($i >= 0) {
            if ($digits[$i] === '9') {
                $digits[$i] = '0';
                $i--;
                continue;
            }
            $digits[$i] = (string) ((int) $digits[$i] + 1);

            return $digits;
        }

        return '1' . $digits;
    }
}

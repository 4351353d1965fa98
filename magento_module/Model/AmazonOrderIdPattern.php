<?php
/**
 * The configured Amazon order id pattern (PCRE without delimiters): compile check and match.
 * The Amazon order id is the pattern's first capture group, or the whole match without one.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

final class AmazonOrderIdPattern
{
    /**
     * What an Amazon order id looks like (3-7-7 letters/digits), possibly behind a prefix or
     * inside an importer's own format: such an ext_order_id that no source recognises still gets
     * a row (amazon_order_id null) so the sidecar can say why it is not sent.
     */
    public const LOOKS_LIKE_AMAZON = '/(?<![A-Za-z0-9])[A-Za-z0-9]{3}-[A-Za-z0-9]{7}-[A-Za-z0-9]{7}(?![A-Za-z0-9])/';

    /** The form Amazon order ids have (AmazonOrderID in Amazon's XSDs: \w{3}-\w{7}-\w{7}). */
    public const AMAZON_ORDER_ID = '/^[A-Za-z0-9]{3}-[A-Za-z0-9]{7}-[A-Za-z0-9]{7}$/D';

    public static function toRegex(string $pattern): string
    {
        // Use "~" as delimiter; escape every "~" of the pattern that is not escaped already.
        return '~' . preg_replace('/(?<!\\\\)((?:\\\\\\\\)*)~/', '$1\\\\~', $pattern) . '~';
    }

    /**
     * @return string|null null when the pattern compiles, else PCRE's message
     */
    public static function compileError(string $pattern): ?string
    {
        error_clear_last();
        if (@preg_match(self::toRegex($pattern), '') === false) {
            $error = error_get_last();

            return $error === null ? preg_last_error_msg() : self::stripPrefix($error['message']);
        }

        return null;
    }

    public static function looksLikeAmazon(?string $value): bool
    {
        return $value !== null && preg_match(self::LOOKS_LIKE_AMAZON, $value) === 1;
    }

    public static function isAmazonOrderId(?string $value): bool
    {
        return $value !== null && preg_match(self::AMAZON_ORDER_ID, $value) === 1;
    }

    private static function stripPrefix(string $message): string
    {
        return (string) preg_replace('/^preg_match\(\): /', '', $message);
    }
}

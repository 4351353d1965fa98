<?php
/**
 * Store configuration of the Amazon Refund Bridge (Stores > Configuration > Sales > Amazon Refund Bridge).
 * Every value is read in the scope of the order's store.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

use Magento\Framework\App\Config\ScopeConfigInterface;

class Config
{
    public const XML_PATH_ENABLED = 'refund_bridge/general/enabled';
    public const XML_PATH_AMAZON_ORDER_ID_PATTERN = 'refund_bridge/general/amazon_order_id_pattern';
    public const DEFAULT_AMAZON_ORDER_ID_PATTERN = '^\d{3}-\d{7}-\d{7}$';
    /** refund_bridge/resolver/<source>: one Yes/No per Amazon order id source. */
    public const XML_PATH_SOURCE_PREFIX = 'refund_bridge/resolver/';
    public const XML_PATH_INCREMENT_ID_PREFIX = 'refund_bridge/resolver/increment_id_prefix';

    /**
     * Same value as \Magento\Store\Model\ScopeInterface::SCOPE_STORE; kept local so no class of
     * magento/module-store is needed at run time.
     */
    private const SCOPE_STORE = 'store';

    private ScopeConfigInterface $scopeConfig;

    public function __construct(ScopeConfigInterface $scopeConfig)
    {
        $this->scopeConfig = $scopeConfig;
    }

    public function isEnabled(?int $storeId = null): bool
    {
        return $this->scopeConfig->isSetFlag(self::XML_PATH_ENABLED, self::SCOPE_STORE, $storeId);
    }

    /** Whether the resolver source (m2epro_payment, m2epro_order, ext_order_id, increment_id) is on. */
    public function isSourceEnabled(string $source, ?int $storeId = null): bool
    {
        return $this->scopeConfig->isSetFlag(self::XML_PATH_SOURCE_PREFIX . $source, self::SCOPE_STORE, $storeId);
    }

    public function getIncrementIdPrefix(?int $storeId = null): string
    {
        $value = $this->scopeConfig->getValue(self::XML_PATH_INCREMENT_ID_PREFIX, self::SCOPE_STORE, $storeId);

        return is_string($value) ? trim($value) : '';
    }

    /**
     * The configured PCRE pattern (without delimiters); an empty value means the default.
     */
    public function getAmazonOrderIdPattern(?int $storeId = null): string
    {
        $value = $this->scopeConfig->getValue(self::XML_PATH_AMAZON_ORDER_ID_PATTERN, self::SCOPE_STORE, $storeId);
        $value = is_string($value) ? trim($value) : '';

        return $value === '' ? self::DEFAULT_AMAZON_ORDER_ID_PATTERN : $value;
    }

    /**
     * Whether sales_order.ext_order_id matches the configured pattern.
     *
     * @throws \UnexpectedValueException when the configured pattern is not a valid regular expression
     */
    public function isAmazonOrderId(?string $extOrderId, ?int $storeId = null): bool
    {
        return $this->matchAmazonOrderId($extOrderId, $storeId) !== null;
    }

    /**
     * The Amazon order id in ext_order_id: the pattern's first capture group, or the whole match.
     *
     * @throws \UnexpectedValueException when the configured pattern is not a valid regular
     *         expression or cannot be matched (the caller logs it; see Resolver\ExtOrderIdSource)
     */
    public function matchAmazonOrderId(?string $extOrderId, ?int $storeId = null): ?string
    {
        if ($extOrderId === null || $extOrderId === '') {
            return null;
        }
        $pattern = $this->getAmazonOrderIdPattern($storeId);
        // error_get_last() would otherwise report whatever unrelated warning came before.
        error_clear_last();
        $result = @preg_match(AmazonOrderIdPattern::toRegex($pattern), $extOrderId, $match);
        if ($result === false) {
            $error = error_get_last();
            if ($error === null) {
                // Compiled, but failed at run time (backtrack / JIT stack limit, bad UTF-8).
                throw new \UnexpectedValueException(sprintf(
                    'Amazon Refund Bridge: the configured Amazon order id pattern "%s" (%s) could not be'
                    . ' matched against the External Order ID "%s": %s',
                    $pattern,
                    self::XML_PATH_AMAZON_ORDER_ID_PATTERN,
                    $extOrderId,
                    preg_last_error_msg()
                ));
            }
            throw new \UnexpectedValueException(sprintf(
                'Amazon Refund Bridge: the configured Amazon order id pattern "%s" (%s) is not a valid'
                . ' regular expression: %s',
                $pattern,
                self::XML_PATH_AMAZON_ORDER_ID_PATTERN,
                $error['message']
            ));
        }
        if ($result !== 1) {
            return null;
        }
        $id = isset($match[1]) && $match[1] !== '' ? $match[1] : $match[0];

        return $id === '' ? null : $id;
    }
}

<?php
/**
 * Store configuration of the Amazon Refund Bridge (Stores > Configuration > Sales > Amazon Refund Bridge).
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model;

use Magento\Framework\App\Config\ScopeConfigInterface;

class Config
{
    public const XML_PATH_ENABLED = 'refund_bridge/general/enabled';
    public const XML_PATH_AMAZON_ORDER_ID_PATTERN = 'refund_bridge/general/amazon_order_id_pattern';
    public const DEFAULT_AMAZON_ORDER_ID_PATTERN = '^\d{3}-\d{7}-\d{7}$';

    /**
     * Same value as \Magento\Store\Model\ScopeInterface::SCOPE_STORE; kept local so the module
     * depends on magento/framework and magento/module-sales only.
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
     * An order is an Amazon order when its sales_order.ext_order_id matches the configured pattern.
     *
     * @throws \UnexpectedValueException when the configured pattern is not a valid regular expression
     *         (fails the save loudly instead of silently treating every order as non-Amazon)
     */
    public function isAmazonOrderId(?string $extOrderId, ?int $storeId = null): bool
    {
        if ($extOrderId === null || $extOrderId === '') {
            return false;
        }
        $pattern = $this->getAmazonOrderIdPattern($storeId);
        // Use "~" as delimiter; escape every "~" of the pattern that is not escaped already.
        $regex = '~' . preg_replace('/(?<!\\\\)((?:\\\\\\\\)*)~/', '$1\\\\~', $pattern) . '~';
        // error_get_last() would otherwise report whatever unrelated warning came before.
        error_clear_last();
        $result = @preg_match($regex, $extOrderId);
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

        return $result === 1;
    }
}

<?php
/**
 * Backend model of refund_bridge/general/amazon_order_id_pattern (etc/adminhtml/system.xml):
 * refuses a pattern that is not a valid PCRE. Magento runs beforeSave() for the admin form and
 * for `bin/magento config:set` (Magento\Config\Model\PreparedValueFactory creates the field's
 * backend model, and the config resource saves it), so an invalid pattern never reaches
 * core_config_data. (`config:set --lock-env` writes env.php without a backend model: the
 * resolver still treats an invalid pattern as "no match" and logs it.)
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\Config\Backend;

use Magento\Framework\App\Config\Value;
use Magento\Framework\Exception\LocalizedException;
use Magento\Framework\Phrase;
use RefundBridge\Outbox\Model\AmazonOrderIdPattern as Pattern;

class AmazonOrderIdPattern extends Value
{
    /**
     * @return $this
     * @throws LocalizedException
     */
    public function beforeSave()
    {
        $value = $this->getValue();
        $value = is_string($value) ? trim($value) : '';
        if ($value !== '') {
            $error = Pattern::compileError($value);
            if ($error !== null) {
                throw new LocalizedException(new Phrase(
                    'The Amazon order id pattern "%1" is not a valid regular expression: %2',
                    [$value, $error]
                ));
            }
        }
        $this->setValue($value);

        return parent::beforeSave();
    }
}

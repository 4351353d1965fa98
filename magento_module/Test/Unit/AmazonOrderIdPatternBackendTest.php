<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Unit;

use Magento\Framework\Exception\LocalizedException;
use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Model\Config\Backend\AmazonOrderIdPattern;

/**
 * system.xml's backend_model for the pattern: Magento calls beforeSave() for the admin form and
 * for bin/magento config:set (Magento\Config\Model\PreparedValueFactory builds the field's backend
 * model; Magento\Config\Console\Command\ConfigSet\DefaultProcessor saves it), so an invalid
 * expression is refused with a message instead of reaching core_config_data.
 */
final class AmazonOrderIdPatternBackendTest extends TestCase
{
    public function testInvalidPatternIsRefused(): void
    {
        $value = new AmazonOrderIdPattern(['path' => 'refund_bridge/general/amazon_order_id_pattern', 'value' => '^(\d{3}']);
        $this->expectException(LocalizedException::class);
        $this->expectExceptionMessage('The Amazon order id pattern "^(\d{3}" is not a valid regular expression: ');
        $value->beforeSave();
    }

    public function testValidPatternsAreSavedTrimmed(): void
    {
        foreach (['^AMZ-(\d{3}-\d{7}-\d{7})$', '  ^\d{3}-\d{7}-\d{7}$ ', 'a~b', ''] as $pattern) {
            $value = new AmazonOrderIdPattern(['value' => $pattern]);
            $this->assertSame($value, $value->beforeSave());
            $this->assertSame(trim($pattern), $value->getValue());
        }
    }
}

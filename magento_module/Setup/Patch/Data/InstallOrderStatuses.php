<?php
/**
 * Installs the custom order statuses the sidecar sets (same rows as sql/mysql/005 and the
 * amazon_cancel_requested status), prefix-aware: every table name goes through getTable(),
 * which applies the installation's table prefix. Idempotent (insertOnDuplicate on the primary
 * keys), so it never overwrites labels an admin edited (only missing rows are added).
 *
 * visible_on_front = 1: Magento lists a customer's orders, and lets the customer open one, only
 * when its status is visible on front (Order\Config::getVisibleOnFrontStatuses(), used by
 * Block\Order\History and Controller\AbstractController\OrderViewAuthorization); 0 would hide a
 * refunded order from "My Orders". What customers read: etc/di.xml masks amazon_refund_pending,
 * amazon_refund_failed and amazon_cancel_requested as core's "processing" on the storefront;
 * amazon_refunded and amazon_canceled show their label, translated by i18n/<locale>.csv
 * (Order\Status::getStoreLabel(): the store view's label from sales_order_status_label, else
 * __(label)). The admin labels stay English; no store label is written here.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Setup\Patch\Data;

use Magento\Framework\Setup\ModuleDataSetupInterface;
use Magento\Framework\Setup\Patch\DataPatchInterface;

class InstallOrderStatuses implements DataPatchInterface
{
    /** status => [admin label, states] */
    public const STATUSES = [
        'amazon_refund_pending' => ['Amazon refund pending', ['processing', 'complete', 'closed']],
        'amazon_refund_failed' => ['Amazon refund failed', ['processing', 'complete', 'closed']],
        'amazon_refunded' => ['Amazon refunded', ['processing', 'complete', 'closed']],
        'amazon_canceled' => ['Amazon canceled', ['closed', 'canceled']],
        'amazon_cancel_requested' => ['Amazon: cancellation requested', ['processing', 'new']],
    ];
    public const VISIBLE_ON_FRONT = 1;

    private ModuleDataSetupInterface $moduleDataSetup;

    public function __construct(ModuleDataSetupInterface $moduleDataSetup)
    {
        $this->moduleDataSetup = $moduleDataSetup;
    }

    /** @return $this */
    public function apply()
    {
        $connection = $this->moduleDataSetup->getConnection();
        $this->moduleDataSetup->startSetup();
        foreach (self::STATUSES as $status => [$label, $states]) {
            $connection->insertOnDuplicate(
                $this->moduleDataSetup->getTable('sales_order_status'),
                ['status' => $status, 'label' => $label],
                ['status']
            );
            foreach ($states as $state) {
                $connection->insertOnDuplicate(
                    $this->moduleDataSetup->getTable('sales_order_status_state'),
                    ['status' => $status, 'state' => $state, 'is_default' => 0, 'visible_on_front' => self::VISIBLE_ON_FRONT],
                    ['status']
                );
            }
        }
        $this->moduleDataSetup->endSetup();

        return $this;
    }

    /** @return string[] */
    public static function getDependencies()
    {
        return [];
    }

    /** @return string[] */
    public function getAliases()
    {
        return [];
    }
}

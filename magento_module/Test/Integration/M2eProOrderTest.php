<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Integration;

use Magento\Framework\App\ResourceConnection;
use Magento\Sales\Model\Order;
use Magento\Sales\Model\Order\Payment;
use RefundBridge\Outbox\Model\Config;
use RefundBridge\Outbox\Model\M2ePro\OriginDetector;

/**
 * Orders imported by M2E Pro (m2epro/magento2-extension): ext_order_id empty (M2E never writes
 * it), the Amazon order id in the payment's additional_information (method m2epropayment,
 * Model/Magento/Payment.php::assignData()) and in M2E's link tables (Model/Setup/Installer.php),
 * each Amazon OrderItemId in sales_order_item.additional_data (Amazon/Order/Item/ProxyObject.php).
 */
final class M2eProOrderTest extends IntegrationTestCase
{
    private const AMAZON_ID = '171-1234567-7654321';

    /** @return array{0: Order, 1: list<Order\Item>} */
    private function m2eOrder(bool $withPayment = true, bool $withLink = true, ?string $settings = null, array $items = []): array
    {
        [$order, $orderItems] = $this->createOrder(['ext_order_id' => null], $items ?: [[
            'sku' => 'ABC-1', 'name' => 'Blue mug', 'qty_ordered' => '2.0000',
            'additional_data' => json_encode(['m2epro_extension' => [
                'pretended_to_be_simple' => false, 'items' => [['order_item_id' => '40000000000001']],
            ]]),
        ]]);
        if ($withPayment) {
            $info = ['component_mode' => 'amazon', 'payment_method' => '', 'channel_order_id' => self::AMAZON_ID,
                'channel_final_fee' => 0, 'cash_on_delivery_cost' => 0, 'transactions' => [], 'tax_id' => null];
            $paymentId = $this->insertRow('sales_order_payment', [
                'parent_id' => (int) $order->getEntityId(), 'method' => 'm2epropayment',
                'additional_information' => json_encode($info),
            ]);
            $order->setPayment(new Payment(['entity_id' => $paymentId, 'method' => 'm2epropayment', 'additional_information' => $info]));
        }
        if ($withLink) {
            $m2eId = $this->insertRow('m2epro_order', [
                'account_id' => 7, 'magento_order_id' => (int) $order->getEntityId(), 'component_mode' => 'amazon',
            ]);
            $this->insertRow('m2epro_amazon_order', ['order_id' => $m2eId, 'amazon_order_id' => self::AMAZON_ID]);
        }
        if ($settings !== null) {
            $this->insertRow('m2epro_amazon_account', ['account_id' => 7, 'magento_orders_settings' => $settings]);
        }
        // M2E Pro's installer: $moduleConfig->insert('/component/amazon/', 'mode', '1')
        $this->pdo->exec("DELETE FROM m2epro_config WHERE `group` = '/component/amazon/'");
        $this->insertRow('m2epro_config', ['group' => '/component/amazon/', 'key' => 'mode', 'value' => '1']);

        return [$order, $orderItems];
    }

    private static function settings(int $refundMode): string
    {
        // M2E Pro's Amazon\Account\Builder defaults, with refund_mode as given.
        return json_encode(['refund_and_cancellation' => [
            'refund_mode' => $refundMode, 'credit_memo' => 0, 'credit_memo_buyer_requested_cancel' => 0,
        ]]);
    }

    private function memoPayload(Order $order, array $orderItems, ?ResourceConnection $resource = null): ?array
    {
        $this->saveCreditmemo($order, [], [], [['order_item' => $orderItems[0], 'qty' => '1.0000']], $resource);
        $rows = $this->outboxRows();

        return $rows === [] ? null : json_decode(end($rows)['payload'], true, 512, JSON_THROW_ON_ERROR);
    }

    public function testPaymentIsTheFirstSourceAndTheAccountSettingIsReported(): void
    {
        [$order, $items] = $this->m2eOrder(true, true, self::settings(1));
        $payload = $this->memoPayload($order, $items);

        $this->assertSame(self::AMAZON_ID, $payload['order']['amazon_order_id']);
        $this->assertSame('m2epro_payment', $payload['order']['amazon_order_id_source']);
        $this->assertSame(['name' => 'm2epro', 'account_id' => 7, 'refunds_on_creditmemo' => true], $payload['order']['connector']);
        $this->assertSame('40000000000001', $payload['items'][0]['amazon_order_item_id']);
    }

    public function testLinkTablesAloneResolveTheOrder(): void
    {
        [$order, $items] = $this->m2eOrder(false, true, self::settings(0));
        $payload = $this->memoPayload($order, $items);

        $this->assertSame(self::AMAZON_ID, $payload['order']['amazon_order_id']);
        $this->assertSame('m2epro_order', $payload['order']['amazon_order_id_source']);
        $this->assertSame(['name' => 'm2epro', 'account_id' => 7, 'refunds_on_creditmemo' => false], $payload['order']['connector']);
    }

    /** @return array<string, array{0: ?string}> */
    public static function unreadableSettingsProvider(): array
    {
        return ['no account row' => [null], 'broken JSON' => ['{"refund_and_cancellation":']];
    }

    /** @dataProvider unreadableSettingsProvider */
    public function testUnreadableAccountSettingIsNull(?string $settings): void
    {
        [$order, $items] = $this->m2eOrder(true, true, $settings);
        $this->assertNull($this->memoPayload($order, $items)['order']['connector']['refunds_on_creditmemo']);
    }

    public function testMissingRefundModeKeyReadsAsOffLikeM2eProDoes(): void
    {
        // Amazon\Account::isRefundEnabled(): getSetting(..., ['refund_and_cancellation', 'refund_mode']) = null -> false
        [$order, $items] = $this->m2eOrder(true, true, '{"qty_reservation":{"days":1}}');
        $this->assertFalse($this->memoPayload($order, $items)['order']['connector']['refunds_on_creditmemo']);
    }

    public function testAccountSettingReadsOffWhileM2eProsAmazonPartIsOff(): void
    {
        // Observer\Creditmemo returns when Helper\Component\Amazon::isEnabled() is false
        [$order, $items] = $this->m2eOrder(true, true, self::settings(1));
        $this->pdo->exec("UPDATE m2epro_config SET `value` = '0' WHERE `group` = '/component/amazon/' AND `key` = 'mode'");
        $this->assertFalse($this->memoPayload($order, $items)['order']['connector']['refunds_on_creditmemo']);
    }

    public function testPaymentOnlyWhenM2eTablesAreMissing(): void
    {
        // A store without M2E Pro's tables: they are not queried, nothing fails.
        $resource = new ResourceConnection($this->adapter, [
            'm2epro_order' => 'm2epro_order_missing', 'm2epro_amazon_order' => 'm2epro_amazon_order_missing',
            'm2epro_amazon_account' => 'm2epro_amazon_account_missing', 'm2epro_config' => 'm2epro_config_missing',
        ]);
        [$order, $items] = $this->m2eOrder(true, false);
        $payload = $this->memoPayload($order, $items, $resource);

        $this->assertSame(self::AMAZON_ID, $payload['order']['amazon_order_id']);
        $this->assertSame(['name' => 'm2epro', 'account_id' => null, 'refunds_on_creditmemo' => null], $payload['order']['connector']);
        $this->assertSame([], $this->logger->records);
    }

    public function testOtherM2eChannelsAreNotAmazon(): void
    {
        [$order, $items] = $this->createOrder(['ext_order_id' => null], [['sku' => 'A', 'name' => 'A']]);
        $order->setPayment(new Payment(['method' => 'm2epropayment', 'additional_information' => [
            'component_mode' => 'ebay', 'channel_order_id' => '12-34567-89012',
        ]]));
        $m2eId = $this->insertRow('m2epro_order', ['account_id' => 3, 'magento_order_id' => (int) $order->getEntityId(), 'component_mode' => 'ebay']);
        $this->assertNull($this->memoPayload($order, $items));
    }

    public function testM2eSourcesCanBeSwitchedOffPerStore(): void
    {
        $this->scopeConfig->set(Config::XML_PATH_SOURCE_PREFIX . 'm2epro_payment', '0', 'store', 1);
        $this->scopeConfig->set(Config::XML_PATH_SOURCE_PREFIX . 'm2epro_order', '0', 'store', 1);
        [$order, $items] = $this->m2eOrder(true, true, self::settings(1));
        $this->assertNull($this->memoPayload($order, $items));
    }

    public function testMergedAmazonItemsGiveNoSingleOrderItemIdAndAChildUsesItsParents(): void
    {
        [$order, $items] = $this->m2eOrder(true, true, null, [
            ['sku' => 'MUG', 'name' => 'Mug', 'qty_ordered' => '2.0000', 'additional_data' => json_encode(['m2epro_extension' => [
                'items' => [['order_item_id' => '40000000000001'], ['order_item_id' => '40000000000002']],
            ]])],
            ['sku' => 'TSHIRT', 'name' => 'T-shirt', 'product_type' => 'configurable', 'additional_data' => json_encode(['m2epro_extension' => [
                'items' => [['order_item_id' => '40000000000003']],
            ]])],
            ['sku' => 'TSHIRT-M', 'name' => 'T-shirt M', 'parent' => 1],
        ]);
        $items[2]->setParentItem($items[1]); // Magento's Order\Item::getParentItem()
        $this->saveCreditmemo($order, [], [], [
            ['order_item' => $items[0], 'qty' => '1.0000'],
            ['order_item' => $items[1], 'qty' => '1.0000'],
            ['order_item' => $items[2], 'qty' => '1.0000'],
        ]);
        $payload = json_decode($this->outboxRows()[0]['payload'], true);
        $this->assertSame([null, '40000000000003', '40000000000003'], array_column($payload['items'], 'amazon_order_item_id'));
    }

    public function testCreditmemoCreatedByM2eProItselfIsMarked(): void
    {
        [$order, $items] = $this->m2eOrder(true, true, self::settings(1));
        // M2E Pro's createCreditMemo(): whole order, every item back to stock, refunded.
        (new \Ess\M2ePro\Model\Amazon\Order())->createCreditMemo(function () use ($order, $items) {
            return $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '2.0000', 'back_to_stock' => true]]);
        });
        $payload = json_decode($this->outboxRows()[0]['payload'], true);
        $this->assertSame('m2epro', $payload['creditmemo']['created_by_connector']);

        // an admin's credit memo of the same order is not
        $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '1.0000']]);
        $this->assertNull(json_decode($this->outboxRows()[1]['payload'], true)['creditmemo']['created_by_connector']);
    }

    public function testShipmentCreatedByM2eProItselfIsMarked(): void
    {
        [$order, $items] = $this->m2eOrder(true, true, self::settings(1));
        // Model\Magento\Order\Shipment::buildShipments(): GlobalData "skip_shipment_observer"
        $this->registry->register(OriginDetector::SKIP_SHIPMENT_OBSERVER_KEY, true);
        $this->saveShipment($order, [], [['order_item' => $items[0], 'qty' => '2.0000']], []);
        $this->registry->unregister(OriginDetector::SKIP_SHIPMENT_OBSERVER_KEY);
        $this->saveShipment($order, [], [['order_item' => $items[0], 'qty' => '0.0000']], []);

        $rows = $this->outboxRows();
        $this->assertSame('m2epro', json_decode($rows[0]['payload'], true)['shipment']['created_by_connector']);
        $this->assertNull(json_decode($rows[1]['payload'], true)['shipment']['created_by_connector']);
        $this->assertSame('40000000000001', json_decode($rows[0]['payload'], true)['items'][0]['amazon_order_item_id']);
    }

    /** With a table prefix, M2E Pro's tables and the outbox are read and written prefixed (getTableName()). */
    public function testTablePrefixIsHonoured(): void
    {
        $map = [];
        foreach (['m2epro_config', 'm2epro_order', 'm2epro_amazon_order', 'm2epro_amazon_account', 'refund_bridge_outbox'] as $table) {
            $this->pdo->exec("DROP TABLE IF EXISTS `pfx_$table`");
            $this->pdo->exec("CREATE TABLE `pfx_$table` LIKE `$table`");
            $map[$table] = "pfx_$table";
        }
        try {
            [$order, $items] = $this->createOrder(['ext_order_id' => null], [['sku' => 'A', 'name' => 'A']]);
            $m2eId = $this->insertRow('pfx_m2epro_order', ['account_id' => 9, 'magento_order_id' => (int) $order->getEntityId(), 'component_mode' => 'amazon']);
            $this->insertRow('pfx_m2epro_amazon_order', ['order_id' => $m2eId, 'amazon_order_id' => self::AMAZON_ID]);
            $this->insertRow('pfx_m2epro_amazon_account', ['account_id' => 9, 'magento_orders_settings' => self::settings(1)]);
            $this->insertRow('pfx_m2epro_config', ['group' => '/component/amazon/', 'key' => 'mode', 'value' => '1']);
            $this->saveCreditmemo($order, [], [], [['order_item' => $items[0], 'qty' => '1.0000']], new ResourceConnection($this->adapter, $map));

            $this->assertSame(0, $this->rowCount('refund_bridge_outbox'));
            $payload = json_decode((string) $this->pdo->query('SELECT payload FROM pfx_refund_bridge_outbox')->fetchColumn(), true);
            $this->assertSame(self::AMAZON_ID, $payload['order']['amazon_order_id']);
            $this->assertSame(['name' => 'm2epro', 'account_id' => 9, 'refunds_on_creditmemo' => true], $payload['order']['connector']);
        } finally {
            foreach ($map as $prefixed) {
                $this->pdo->exec("DROP TABLE IF EXISTS `$prefixed`");
            }
        }
    }
}

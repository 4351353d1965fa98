<?php
declare(strict_types=1);

namespace RefundBridge\Outbox\Test\Unit;

use Magento\Framework\App\Area;
use Magento\Framework\App\State;
use Magento\Framework\Phrase;
use Magento\Sales\Model\Order\Config;
use Magento\Sales\Model\Order\StatusFactory;
use Magento\Sales\Model\Order\StatusLabel;
use PHPUnit\Framework\TestCase;
use RefundBridge\Outbox\Plugin\MaskStatusesOnStorefront;
use RefundBridge\Outbox\Setup\Patch\Data\InstallOrderStatuses;

/**
 * What customers see. Magento prints an order's status on the storefront (My Orders, order view,
 * order e-mails) through Order\StatusLabel (Order\Config before it existed): the code is first
 * masked for the area (maskStatusesMapping; core masks payment_review as processing), then the
 * store view's label (sales_order_status_label) wins, else __(default label) in the store's
 * locale. Observed before: customers of a French store read "Amazon refund failed". Now the
 * three internal statuses read as Magento's own "processing" (its language pack's word) and
 * amazon_refunded / amazon_canceled read the module's translation (i18n/fr_FR.csv).
 */
final class StorefrontStatusTest extends TestCase
{
    private const ETC = __DIR__ . '/../../etc/';
    private const I18N = __DIR__ . '/../../i18n/';
    private const MASKED = ['amazon_refund_pending', 'amazon_refund_failed', 'amazon_cancel_requested'];
    private const FRENCH_STORE = 2;

    /** Magento_Sales etc/di.xml (2.4 with Order\StatusLabel), the items a module's di.xml merges into. */
    private const CORE_DI = <<<'XML'
<config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <type name="Magento\Sales\Model\Order\StatusLabel">
        <arguments>
            <argument name="maskStatusesMapping" xsi:type="array">
                <item name="frontend" xsi:type="array">
                    <item name="fraud" xsi:type="const">Magento\Sales\Model\Order::STATUS_FRAUD</item>
                    <item name="payment_review" xsi:type="const">Magento\Sales\Model\Order::STATE_PROCESSING</item>
                </item>
            </argument>
        </arguments>
    </type>
</config>
XML;

    /** What a French language pack gives core's labels (not the module's to ship). */
    private const LANGUAGE_PACK_FR = ['Processing' => 'En cours de traitement', 'Suspected Fraud' => 'Fraude suspectée'];

    protected function tearDown(): void
    {
        Phrase::setDictionary(null);
    }

    public function testDiXmlMasksTheInternalStatusesAndKeepsCoresItems(): void
    {
        $merged = $this->mergedStatusLabelMapping();

        $this->assertSame(
            [
                'fraud' => 'fraud',
                'payment_review' => 'processing',
                'amazon_refund_pending' => 'processing',
                'amazon_refund_failed' => 'processing',
                'amazon_cancel_requested' => 'processing',
            ],
            $merged[Area::AREA_FRONTEND]
        );
        $this->assertSame(array_fill_keys(self::MASKED, 'processing'), $merged[Area::AREA_GRAPHQL]);
        $this->assertArrayNotHasKey('amazon_refunded', $merged[Area::AREA_FRONTEND]);
        $this->assertArrayNotHasKey('amazon_canceled', $merged[Area::AREA_FRONTEND]);
    }

    public function testThePluginForOlderReleasesHasTheSameItemsAndIsDeclaredOnOrderConfig(): void
    {
        $di = simplexml_load_file(self::ETC . 'di.xml');
        $this->assertSame(
            $this->mappingOf($di, 'Magento\Sales\Model\Order\StatusLabel'),
            $this->mappingOf($di, MaskStatusesOnStorefront::class)
        );
        $plugins = $di->xpath('/config/type[@name="Magento\Sales\Model\Order\Config"]/plugin/@type');
        $this->assertSame([MaskStatusesOnStorefront::class], array_map('strval', $plugins));
    }

    public function testFrenchCustomerReadsMagentosProcessingLabelForAFailedAmazonRefund(): void
    {
        $labels = $this->statusLabel(Area::AREA_FRONTEND, $this->mergedStatusLabelMapping());

        foreach (self::MASKED as $status) {
            $this->assertSame('En cours de traitement', $labels->getStatusLabel($status), $status);
        }
        $this->assertSame($labels->getStatusLabel('processing'), $labels->getStatusLabel('amazon_refund_failed'));
        $this->assertSame(
            'En cours de traitement',
            $labels->getStatusFrontendLabel('amazon_refund_failed', Area::AREA_FRONTEND, self::FRENCH_STORE)
        );
        // core's own masks still work
        $this->assertSame('En cours de traitement', $labels->getStatusLabel('payment_review'));
        $this->assertSame('Fraude suspectée', $labels->getStatusLabel('fraud'));
    }

    public function testFrenchCustomerReadsTranslatedRefundedAndCanceled(): void
    {
        $labels = $this->statusLabel(Area::AREA_FRONTEND, $this->mergedStatusLabelMapping());

        $this->assertSame('Remboursé par Amazon', $labels->getStatusLabel('amazon_refunded'));
        $this->assertSame('Annulé par Amazon', $labels->getStatusLabel('amazon_canceled'));
        $this->assertSame($this->csv('fr_FR')['Amazon refunded'], $labels->getStatusLabel('amazon_refunded'));
    }

    public function testStoreViewLabelOverridesTheTranslation(): void
    {
        $labels = $this->statusLabel(
            Area::AREA_FRONTEND,
            $this->mergedStatusLabelMapping(),
            ['amazon_refunded' => [self::FRENCH_STORE => 'Remboursement effectué']]
        );

        $this->assertSame('Remboursement effectué', $labels->getStatusLabel('amazon_refunded'));
    }

    public function testAdminStillSeesTheRealStatus(): void
    {
        $labels = $this->statusLabel(Area::AREA_ADMINHTML, $this->mergedStatusLabelMapping());

        $this->assertSame('Amazon refund failed', $labels->getStatusLabel('amazon_refund_failed'));
        $this->assertSame('Amazon: cancellation requested', $labels->getStatusLabel('amazon_cancel_requested'));
    }

    public function testReleasesWithoutStatusLabelAreMaskedByThePlugin(): void
    {
        $di = simplexml_load_file(self::ETC . 'di.xml');
        $state = new State();
        $state->setAreaCode(Area::AREA_FRONTEND);
        $config = new Config($this->statusFactory(), $state);
        $plugin = new MaskStatusesOnStorefront($state, $this->mappingOf($di, MaskStatusesOnStorefront::class));
        Phrase::setDictionary($this->frenchDictionary());

        // Order\Config alone (hard-coded mask): the customer read the internal status
        $this->assertSame('Échec du remboursement Amazon', $config->getStatusLabel('amazon_refund_failed'));
        // through the plugin, as Magento's interceptor calls it
        $this->assertSame(
            'En cours de traitement',
            $config->getStatusLabel(...$plugin->beforeGetStatusLabel($config, 'amazon_refund_failed'))
        );
        $this->assertSame(
            'En cours de traitement',
            $config->getStatusFrontendLabel(...$plugin->beforeGetStatusFrontendLabel($config, 'amazon_cancel_requested'))
        );
        $this->assertSame(
            'Remboursé par Amazon',
            $config->getStatusLabel(...$plugin->beforeGetStatusLabel($config, 'amazon_refunded'))
        );
        $this->assertSame('En cours de traitement', $config->getStatusLabel(...$plugin->beforeGetStatusLabel($config, 'payment_review')));

        $state->setAreaCode(Area::AREA_ADMINHTML);
        $this->assertSame(
            'Amazon refund failed',
            $config->getStatusLabel(...$plugin->beforeGetStatusLabel($config, 'amazon_refund_failed'))
        );
    }

    public function testPluginTreatsAMissingAreaAsTheStorefrontLikeMagento(): void
    {
        $plugin = new MaskStatusesOnStorefront(new State(), ['frontend' => ['amazon_refund_failed' => 'processing']]);
        $config = new Config($this->statusFactory(), new State());

        $this->assertSame(['processing'], $plugin->beforeGetStatusLabel($config, 'amazon_refund_failed'));
        $this->assertSame([null], $plugin->beforeGetStatusFrontendLabel($config, null));
    }

    /** @return array<string, array<string, string>> core's mapping with the module's merged by item name */
    private function mergedStatusLabelMapping(): array
    {
        $core = $this->mappingOf(simplexml_load_string(self::CORE_DI), 'Magento\Sales\Model\Order\StatusLabel');
        $module = $this->mappingOf(simplexml_load_file(self::ETC . 'di.xml'), 'Magento\Sales\Model\Order\StatusLabel');

        return array_replace_recursive($core, $module);
    }

    /** @return array<string, mixed> the maskStatusesMapping argument of a type, as Magento interprets it */
    private function mappingOf(\SimpleXMLElement $di, string $type): array
    {
        $arguments = $di->xpath(sprintf('/config/type[@name="%s"]/arguments/argument[@name="maskStatusesMapping"]', $type));
        $this->assertCount(1, $arguments, $type);

        return $this->items($arguments[0]);
    }

    /** @return array<string, mixed> */
    private function items(\SimpleXMLElement $node): array
    {
        $out = [];
        foreach ($node->item as $item) {
            $xsiType = (string) $item->attributes('http://www.w3.org/2001/XMLSchema-instance')['type'];
            $name = (string) $item['name'];
            $out[$name] = match ($xsiType) {
                'array' => $this->items($item),
                'const' => constant(trim((string) $item)),
                'string' => (string) $item,
            };
        }

        return $out;
    }

    /** @param array<string, array<int, string>> $storeLabels */
    private function statusLabel(string $area, array $mapping, array $storeLabels = []): StatusLabel
    {
        $state = new State();
        $state->setAreaCode($area);
        Phrase::setDictionary($this->frenchDictionary());

        return new StatusLabel($this->statusFactory($storeLabels), $state, $mapping);
    }

    /** @param array<string, array<int, string>> $storeLabels */
    private function statusFactory(array $storeLabels = []): StatusFactory
    {
        $labels = ['processing' => 'Processing', 'fraud' => 'Suspected Fraud', 'payment_review' => 'Payment Review'];
        foreach (InstallOrderStatuses::STATUSES as $status => [$label]) {
            $labels[$status] = $label;
        }

        return new StatusFactory($labels, $storeLabels, self::FRENCH_STORE);
    }

    /** @return array<string, string> the fr_FR dictionary: language pack + the module's CSV */
    private function frenchDictionary(): array
    {
        return array_merge(self::LANGUAGE_PACK_FR, $this->csv('fr_FR'));
    }

    /** @return array<string, string> */
    private function csv(string $locale): array
    {
        $rows = [];
        $handle = fopen(self::I18N . $locale . '.csv', 'rb');
        while (($row = fgetcsv($handle, 0, ',', '"')) !== false) {
            $rows[$row[0]] = $row[1];
        }
        fclose($handle);

        return $rows;
    }
}

<?php
/**
 * Test stand-in for Magento\Sales\Model\Order\Status: load($code) reads the status row (label =
 * sales_order_status.label) and its store view labels (sales_order_status_label); getStoreLabel()
 * as Magento 2.4's: the store view's own label, else __(label), i.e. the default label translated
 * in the store's locale. Rows come from StatusFactory's in-memory tables.
 */
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;

class Status extends DataObject
{
    private StatusFactory $factory;

    public function __construct(StatusFactory $factory)
    {
        $this->factory = $factory;
        parent::__construct();
    }

    public function load($code)
    {
        $this->setData('status', $code);
        $this->setData('label', $this->factory->labels[$code] ?? null);
        $this->setData('store_labels', $this->factory->storeLabels[$code] ?? []);

        return $this;
    }

    public function getLabel()
    {
        return $this->getData('label');
    }

    /** @return array<int, string> store id => label */
    public function getStoreLabels()
    {
        return $this->getData('store_labels');
    }

    /** @param int|null $store store id; null = the current store */
    public function getStoreLabel($store = null)
    {
        $storeId = $store ?? $this->factory->currentStoreId;
        $labels = $this->getStoreLabels();
        if (isset($labels[$storeId])) {
            return $labels[$storeId];
        }

        return __($this->getLabel());
    }
}

<?php
// Test stand-in for the generated Magento\Sales\Model\Order\StatusFactory, over in-memory tables.
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

class StatusFactory
{
    /** @var array<string, string> sales_order_status: status => label */
    public array $labels;
    /** @var array<string, array<int, string>> sales_order_status_label: status => store id => label */
    public array $storeLabels;
    public int $currentStoreId;

    /**
     * @param array<string, string> $labels
     * @param array<string, array<int, string>> $storeLabels
     */
    public function __construct(array $labels, array $storeLabels = [], int $currentStoreId = 1)
    {
        $this->labels = $labels;
        $this->storeLabels = $storeLabels;
        $this->currentStoreId = $currentStoreId;
    }

    public function create(array $data = []): Status
    {
        return new Status($this);
    }
}

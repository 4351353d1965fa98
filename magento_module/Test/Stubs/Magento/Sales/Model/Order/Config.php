<?php
/**
 * Test stand-in for Magento\Sales\Model\Order\Config as in the releases before Order\StatusLabel:
 * the storefront mask is Config's own hard-coded protected property (no constructor argument, so
 * no di.xml can add to it); getStatusLabel() uses the request's area, getStatusFrontendLabel()
 * the storefront; adminhtml reads the admin label, other areas Status::getStoreLabel().
 */
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\App\Area;
use Magento\Framework\App\State;
use Magento\Sales\Model\Order;

class Config
{
    protected StatusFactory $orderStatusFactory;
    protected State $state;
    /** @var array<string, array<string, string>> */
    protected $maskStatusesMapping = [
        Area::AREA_FRONTEND => [
            Order::STATUS_FRAUD => Order::STATUS_FRAUD,
            Order::STATE_PAYMENT_REVIEW => Order::STATE_PROCESSING,
        ],
    ];

    public function __construct(StatusFactory $orderStatusFactory, State $state)
    {
        $this->orderStatusFactory = $orderStatusFactory;
        $this->state = $state;
    }

    public function getStatusLabel($code)
    {
        $area = $this->state->getAreaCode() ?: Area::AREA_FRONTEND;

        return $this->getStatusLabelForArea($code, $area);
    }

    public function getStatusFrontendLabel(?string $code): ?string
    {
        return $this->getStatusLabelForArea($code, Area::AREA_FRONTEND);
    }

    private function getStatusLabelForArea(?string $code, string $area): ?string
    {
        $code = $this->maskStatusForArea($area, $code);
        $status = $this->orderStatusFactory->create()->load($code);
        if ($area === Area::AREA_ADMINHTML) {
            return (string) $status->getLabel();
        }

        return (string) $status->getStoreLabel();
    }

    protected function maskStatusForArea($area, $code)
    {
        return $this->maskStatusesMapping[$area][$code] ?? $code;
    }
}

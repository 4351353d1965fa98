<?php
/**
 * Test stand-in for Magento\Sales\Model\Order\StatusLabel (the releases that have it), same rules without
 * its static label cache: mask the code for the area (maskStatusesMapping, filled by di.xml),
 * then adminhtml reads the admin label, every other area the store label
 * (Status::getStoreLabel(): store view label, else the translated default label).
 */
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\App\Area;
use Magento\Framework\App\State;

class StatusLabel
{
    private StatusFactory $orderStatusFactory;
    private State $state;
    /** @var array<string, array<string, string>> */
    private array $maskStatusesMapping;

    public function __construct(StatusFactory $orderStatusFactory, State $state, array $maskStatusesMapping = [])
    {
        $this->orderStatusFactory = $orderStatusFactory;
        $this->state = $state;
        $this->maskStatusesMapping = $maskStatusesMapping;
    }

    public function getStatusFrontendLabel(?string $code, string $area, ?int $storeId = null): ?string
    {
        $code = $this->maskStatusForArea($area, $code);
        $status = $this->orderStatusFactory->create()->load($code);
        if ($area === Area::AREA_ADMINHTML) {
            return (string) $status->getLabel();
        }

        return (string) $status->getStoreLabel($storeId);
    }

    public function maskStatusForArea(string $area, ?string $code): ?string
    {
        if (isset($this->maskStatusesMapping[$area][$code])) {
            return $this->maskStatusesMapping[$area][$code];
        }

        return $code;
    }

    public function getStatusLabel($code)
    {
        $area = $this->state->getAreaCode() ?: Area::AREA_FRONTEND;

        return $this->getStatusFrontendLabel($code, $area);
    }
}

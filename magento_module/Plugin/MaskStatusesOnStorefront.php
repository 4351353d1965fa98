<?php
/**
 * Masks the bridge's internal order statuses on the storefront, for Magento releases whose
 * Order\Config still masks with its own hard-coded $maskStatusesMapping property (fraud,
 * payment_review) instead of Order\StatusLabel's maskStatusesMapping argument (etc/di.xml gives
 * both the same items). Before Order\Config::getStatusLabel() (area of the request) and
 * ::getStatusFrontendLabel() (always the storefront: order e-mails, customer account), a masked
 * status code is replaced by the code whose label customers read ("processing"). Where
 * Order\Config delegates to Order\StatusLabel, that class masks again with the same mapping:
 * mapping "processing" finds nothing, so the result is the same.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Plugin;

use Magento\Framework\App\Area;
use Magento\Framework\App\State;
use Magento\Sales\Model\Order\Config;

class MaskStatusesOnStorefront
{
    private State $state;

    /** @var array<string, array<string, string>> area => status => status customers see */
    private array $maskStatusesMapping;

    /** @param array<string, array<string, string>> $maskStatusesMapping */
    public function __construct(State $state, array $maskStatusesMapping = [])
    {
        $this->state = $state;
        $this->maskStatusesMapping = $maskStatusesMapping;
    }

    /**
     * @param mixed $code
     * @return array{0: mixed}
     */
    public function beforeGetStatusLabel(Config $subject, $code): array
    {
        return [$this->mask($this->areaCode(), $code)];
    }

    /** @return array{0: string|null} */
    public function beforeGetStatusFrontendLabel(Config $subject, ?string $code): array
    {
        return [$this->mask(Area::AREA_FRONTEND, $code)];
    }

    /**
     * @param mixed $code
     * @return mixed
     */
    public function mask(string $area, $code)
    {
        if (is_string($code) && isset($this->maskStatusesMapping[$area][$code])) {
            return $this->maskStatusesMapping[$area][$code];
        }

        return $code;
    }

    /** Magento's own rule (Order\StatusLabel::getStatusLabel()): no area = the storefront. */
    private function areaCode(): string
    {
        try {
            return (string) $this->state->getAreaCode() ?: Area::AREA_FRONTEND;
        } catch (\Magento\Framework\Exception\LocalizedException $e) {
            return Area::AREA_FRONTEND;
        }
    }
}

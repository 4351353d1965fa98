<?php
/**
 * Whether M2E Pro itself is creating the document being saved (then the snapshot says
 * created_by_connector = "m2epro" and the sidecar never echoes it back to Amazon).
 *
 * - Shipments and tracks: M2E Pro sets the registry key "m2epro_extension_skip_shipment_observer"
 *   (Helper\Data\GlobalData prefixes "m2epro_extension_") around the saves in
 *   Model\Magento\Order\Shipment::buildShipments() and Model\Magento\Order\Shipment\Track.
 * - Credit memos: M2E Pro sets no flag; it creates them in Model\Amazon\Order::createCreditMemo()
 *   (CreditmemoService::refund() when Amazon cancelled the order), so the call stack of the save
 *   holds an Ess\M2ePro\ frame of createCreditMemo.
 */
declare(strict_types=1);

namespace RefundBridge\Outbox\Model\M2ePro;

use Magento\Framework\Registry;

class OriginDetector
{
    public const SKIP_SHIPMENT_OBSERVER_KEY = 'm2epro_extension_skip_shipment_observer';
    private const M2EPRO_NAMESPACE = 'Ess\\M2ePro\\';

    private Registry $registry;

    public function __construct(Registry $registry)
    {
        $this->registry = $registry;
    }

    public function shipmentCreatedBy(): ?string
    {
        return $this->registry->registry(self::SKIP_SHIPMENT_OBSERVER_KEY) ? ConnectorReader::NAME : null;
    }

    public function creditmemoCreatedBy(): ?string
    {
        foreach (debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS) as $frame) {
            $class = $frame['class'] ?? '';
            if (($frame['function'] ?? '') === 'createCreditMemo'
                && strncmp($class, self::M2EPRO_NAMESPACE, strlen(self::M2EPRO_NAMESPACE)) === 0
            ) {
                return ConnectorReader::NAME;
            }
        }

        return null;
    }
}

<?php
/**
 * Registers the RefundBridge_Outbox module with Magento.
 */
declare(strict_types=1);

use Magento\Framework\Component\ComponentRegistrar;

ComponentRegistrar::register(ComponentRegistrar::MODULE, 'RefundBridge_Outbox', __DIR__);

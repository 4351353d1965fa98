<?php
// Test stand-in for Magento\Framework\Event\ObserverInterface (same signature).
declare(strict_types=1);

namespace Magento\Framework\Event;

interface ObserverInterface
{
    public function execute(Observer $observer);
}

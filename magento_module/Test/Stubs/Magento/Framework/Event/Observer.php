<?php
// Test stand-in for Magento\Framework\Event\Observer.
declare(strict_types=1);

namespace Magento\Framework\Event;

use Magento\Framework\DataObject;
use Magento\Framework\Event;

class Observer extends DataObject
{
    public function getEvent(): Event
    {
        return $this->getData('event');
    }
}

<?php
// Test stand-in for Magento\Framework\Event.
declare(strict_types=1);

namespace Magento\Framework;

class Event extends DataObject
{
}

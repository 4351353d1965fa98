<?php
// Test stand-in for Magento\Framework\App\Config\Value, the base of system.xml backend models:
// Magento's config save (admin form and bin/magento config:set, via PreparedValueFactory)
// calls beforeSave() before it writes core_config_data; an exception aborts the save.
declare(strict_types=1);

namespace Magento\Framework\App\Config;

use Magento\Framework\DataObject;

class Value extends DataObject
{
    /** @return $this */
    public function beforeSave()
    {
        return $this;
    }

    /** @return mixed */
    public function getValue()
    {
        return $this->getData('value');
    }
}

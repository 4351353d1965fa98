<?php
// Test stand-in for Magento\Framework\App\State: getAreaCode() throws while no area is set, as Magento's does.
declare(strict_types=1);

namespace Magento\Framework\App;

use Magento\Framework\Exception\LocalizedException;
use Magento\Framework\Phrase;

class State
{
    private ?string $areaCode = null;

    public function setAreaCode($code): void
    {
        $this->areaCode = (string) $code;
    }

    public function getAreaCode()
    {
        if ($this->areaCode === null) {
            throw new LocalizedException(new Phrase('Area code is not set'));
        }

        return $this->areaCode;
    }
}

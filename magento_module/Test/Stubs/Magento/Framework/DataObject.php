<?php
// Test stand-in for Magento\Framework\DataObject (magic getters/setters over an array).
declare(strict_types=1);

namespace Magento\Framework;

class DataObject
{
    /** @var array<string, mixed> */
    protected $_data = [];

    /** @param array<string, mixed> $data */
    public function __construct(array $data = [])
    {
        $this->_data = $data;
    }

    /** @return mixed */
    public function getData($key = '')
    {
        if ($key === '') {
            return $this->_data;
        }

        return $this->_data[$key] ?? null;
    }

    /** @return $this */
    public function setData($key, $value = null)
    {
        if (is_array($key)) {
            $this->_data = $key;
        } else {
            $this->_data[$key] = $value;
        }

        return $this;
    }

    /** @return $this */
    public function addData(array $data)
    {
        foreach ($data as $key => $value) {
            $this->_data[$key] = $value;
        }

        return $this;
    }

    /** @return mixed */
    public function __call($method, $args)
    {
        $key = strtolower(preg_replace('/(.)([A-Z])/', '$1_$2', substr($method, 3)));
        switch (substr($method, 0, 3)) {
            case 'get':
                return $this->getData($key);
            case 'set':
                return $this->setData($key, $args[0] ?? null);
            case 'uns':
                unset($this->_data[$key]);

                return $this;
            case 'has':
                return isset($this->_data[$key]);
        }
        throw new \BadMethodCallException('Invalid method ' . static::class . '::' . $method);
    }
}

<?php
// Test stand-in for Magento\Sales\Model\Order\Shipment, with Magento 2.4's two track lists:
// getTracksCollection()/getAllTracks() read the tracks collection (rows loaded from
// sales_shipment_track, plus tracks added by addTrack()); getTracks()/setTracks() are the
// "tracks" data key, which the REST hydrator (POST /V1/shipment, ShipOrder) fills and the
// resource model's relation saves. A track set only through setTracks() is not in the
// collection (Magento\Sales\Model\Order\Shipment::getTracksCollection(), addTrack()).
declare(strict_types=1);

namespace Magento\Sales\Model\Order;

use Magento\Framework\DataObject;
use Magento\Sales\Model\Order;

class Shipment extends DataObject
{
    /** @var list<Shipment\Track> rows "loaded" from sales_shipment_track */
    private array $tracksCollection = [];

    public function getOrder(): Order
    {
        return $this->getData('order');
    }

    /** @return list<Shipment\Item> */
    public function getAllItems(): array
    {
        return $this->getData('items') ?? [];
    }

    /** @param list<Shipment\Track> $tracks what the collection holds (test setup) */
    public function setTracksCollectionItems(array $tracks): self
    {
        $this->tracksCollection = $tracks;

        return $this;
    }

    /** @return list<Shipment\Track> */
    public function getTracksCollection(): array
    {
        return $this->tracksCollection;
    }

    /** @return list<Shipment\Track> */
    public function getAllTracks(): array
    {
        $tracks = [];
        foreach ($this->getTracksCollection() as $track) {
            if (!$track->isDeleted()) {
                $tracks[] = $track;
            }
        }

        return $tracks;
    }

    /** Magento 2.4: adds the track to the collection (when new) and to the "tracks" data. */
    public function addTrack(Shipment\Track $track): self
    {
        $track->setShipment($this)->setParentId($this->getEntityId())->setOrderId($this->getData('order_id'));
        if (!$track->getEntityId()) {
            $this->tracksCollection[] = $track;
        }
        $tracks = $this->getTracks() ?? [];
        $tracks[] = $track;
        $this->setTracks($tracks);

        return $this;
    }

    /** @return list<Shipment\Track>|null */
    public function getTracks()
    {
        if (!$this->getEntityId()) {
            return $this->getData('tracks');
        }
        if ($this->getData('tracks') === null) {
            $this->setData('tracks', $this->getTracksCollection());
        }

        return $this->getData('tracks');
    }

    public function setTracks($tracks): self
    {
        return $this->setData('tracks', $tracks);
    }
}

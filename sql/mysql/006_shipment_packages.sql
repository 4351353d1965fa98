-- 006: packages the bridge confirmed to Amazon (confirmShipment), one per Magento shipment.
-- A later track ("track" outbox event) re-sends the same package (same packageReferenceId,
-- same units) with the new tracking number: an edit on Amazon, never a second package.
-- A first confirmation is recorded as 'sending' before the call: after a crash or timeout the
-- same package (same reference, same units) is sent again, which Amazon treats as an edit.

CREATE TABLE IF NOT EXISTS refund_bridge_shipment_package (
  shipment_id          INT UNSIGNED NOT NULL COMMENT 'sales_shipment.entity_id',
  amazon_order_id      VARCHAR(32)  NOT NULL,
  account_id           VARCHAR(64)  NOT NULL,
  package_reference_id VARCHAR(32)  NOT NULL COMMENT 'packageReferenceId sent to Amazon',
  order_items          TEXT         NOT NULL COMMENT 'JSON [{"orderItemId", "quantity"}] confirmed',
  tracking_number      VARCHAR(255) NULL,
  state                VARCHAR(16)  NOT NULL DEFAULT 'confirmed' COMMENT 'sending: a first confirmShipment may have reached Amazon (re-sent as is); confirmed',
  confirmed_at         DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  PRIMARY KEY (shipment_id),
  KEY REFUND_BRIDGE_SHIPMENT_PACKAGE_ORDER (amazon_order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Packages confirmed to Amazon';

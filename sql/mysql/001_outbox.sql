-- 001: the transactional outbox written by the Magento module (RefundBridge_Outbox)
-- and drained by the sidecar. Identical to magento_module/etc/db_schema.xml
-- (tests/test_schema_parity.py proves it), so either `bin/magento setup:upgrade`
-- or `sidecar migrate` may create it; both are idempotent.
CREATE TABLE IF NOT EXISTS refund_bridge_outbox (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'Outbox row ID',
  event_type       VARCHAR(32)     NOT NULL COMMENT 'creditmemo or shipment',
  entity_id        INT UNSIGNED    NOT NULL COMMENT 'sales_creditmemo.entity_id or sales_shipment.entity_id',
  order_id         INT UNSIGNED    NOT NULL COMMENT 'sales_order.entity_id',
  payload          MEDIUMTEXT      NOT NULL COMMENT 'JSON snapshot taken in the Magento transaction',
  status           VARCHAR(32)     NOT NULL DEFAULT 'pending' COMMENT 'See sql/README.md',
  attempts         INT UNSIGNED    NOT NULL DEFAULT 0 COMMENT 'Claims so far',
  available_at     TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'Not claimed before this time',
  lease_owner      VARCHAR(128)    NULL COMMENT 'Worker holding the lease',
  lease_token      VARCHAR(36)     NULL COMMENT 'Fencing token of the current lease',
  lease_expires_at TIMESTAMP       NULL COMMENT 'Lease end; the reaper frees it after this',
  status_message   TEXT            NULL COMMENT 'Human-readable reason for the current status',
  last_error       TEXT            NULL COMMENT 'Last error seen while processing',
  created_at       TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'Created At',
  updated_at       TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'Updated At',
  PRIMARY KEY (id),
  UNIQUE KEY REFUND_BRIDGE_OUTBOX_EVENT_TYPE_ENTITY_ID (event_type, entity_id),
  KEY REFUND_BRIDGE_OUTBOX_STATUS_AVAILABLE_AT_ID (status, available_at, id),
  KEY REFUND_BRIDGE_OUTBOX_ORDER_ID (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Amazon refund bridge outbox';

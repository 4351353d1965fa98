-- 002: the sidecar's own state. Only the sidecar writes these tables.
-- All times are UTC (the sidecar pins its sessions to time_zone '+00:00').

CREATE TABLE IF NOT EXISTS refund_bridge_worker_heartbeat (
  worker_id      VARCHAR(128) NOT NULL,
  hostname       VARCHAR(255) NOT NULL,
  pid            INT          NOT NULL,
  started_at     DATETIME(6)  NOT NULL,
  beat_at        DATETIME(6)  NOT NULL,
  rows_processed BIGINT       NOT NULL DEFAULT 0,
  PRIMARY KEY (worker_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Worker liveness for /readyz';

CREATE TABLE IF NOT EXISTS refund_bridge_audit_log (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  outbox_id  BIGINT UNSIGNED NULL,
  action     VARCHAR(64)  NOT NULL COMMENT 'requeue, resolve_done, resolve_requeue, ...',
  actor      VARCHAR(128) NOT NULL,
  reason     TEXT         NOT NULL,
  created_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY REFUND_BRIDGE_AUDIT_LOG_OUTBOX_ID (outbox_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Admin actions on outbox rows';

CREATE TABLE IF NOT EXISTS refund_bridge_rate_limit (
  account_id       VARCHAR(64)   NOT NULL,
  operation        VARCHAR(64)   NOT NULL COMMENT 'SP-API operation, e.g. createFeed',
  tokens           DECIMAL(12,6) NOT NULL COMMENT 'Tokens left in the bucket at updated_at_us',
  updated_at_us    BIGINT        NOT NULL COMMENT 'Epoch microseconds',
  blocked_until_us BIGINT        NOT NULL DEFAULT 0 COMMENT 'After a 429: no call before this',
  PRIMARY KEY (account_id, operation)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='SP-API token buckets shared by all sidecars';

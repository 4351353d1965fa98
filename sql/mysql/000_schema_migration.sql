-- 000: the record of applied migrations (sidecar migrate writes one row per file).
-- A DBA applying files by hand may insert the rows itself: (file name, sha256 of the file, now).

CREATE TABLE IF NOT EXISTS refund_bridge_schema_migration (
  version    VARCHAR(128) NOT NULL COMMENT 'Migration file name',
  checksum   VARCHAR(64)  NOT NULL COMMENT 'SHA-256 of the file as applied',
  applied_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Applied sql/ migrations';

-- 009: the continuous order sync (searchOrders by lastUpdatedAfter) and what it announced
-- in Magento. Only the sidecar writes these tables. All times are UTC.

-- One row per (account, marketplace): how far the sync has proven Amazon's state.
-- checkpoint: lastUpdatedBefore of the last COMPLETED pass (every order updated before it
--   is stored); covered_from: since when the passes are gap-free (an order stored before
--   covered_from is not proven by them). A pass in progress has pass_after/pass_before set
--   and page_token = the nextToken of the last page STORED (NULL: first page next).
CREATE TABLE IF NOT EXISTS refund_bridge_order_sync (
  account_id     VARCHAR(64)  NOT NULL,
  marketplace_id VARCHAR(32)  NOT NULL,
  checkpoint     DATETIME(6)  NULL COMMENT 'lastUpdatedBefore of the last completed pass',
  covered_from   DATETIME(6)  NULL COMMENT 'passes are gap-free since this time',
  pass_after     DATETIME(6)  NULL COMMENT 'lastUpdatedAfter of the pass in progress',
  pass_before    DATETIME(6)  NULL COMMENT 'lastUpdatedBefore of the pass in progress',
  page_token     TEXT         NULL COMMENT 'nextToken after the last stored page of the pass',
  pages_stored   INT          NOT NULL DEFAULT 0 COMMENT 'pages stored in the pass in progress',
  orders_stored  BIGINT       NOT NULL DEFAULT 0 COMMENT 'orders stored by all passes',
  passes         BIGINT       NOT NULL DEFAULT 0 COMMENT 'completed passes',
  proof_wanted   DATETIME(6)  NULL COMMENT 'a credit memo waits for a pass proving this instant',
  last_error     TEXT         NULL,
  updated_at     DATETIME(6)  NOT NULL,
  PRIMARY KEY (account_id, marketplace_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Order sync checkpoints';

-- One leader per account: the worker holding an unexpired lease runs the sync.
CREATE TABLE IF NOT EXISTS refund_bridge_order_sync_lease (
  account_id VARCHAR(64)  NOT NULL,
  owner      VARCHAR(128) NOT NULL COMMENT 'worker id',
  expires_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (account_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Order sync leader per account';

-- Each change of Amazon's side announced in Magento once (change_key names the change).
CREATE TABLE IF NOT EXISTS refund_bridge_order_announcement (
  amazon_order_id  VARCHAR(32)  NOT NULL,
  change_key       VARCHAR(191) NOT NULL COMMENT 'status:CANCELLED, cancel_request:<item>, cancelled:<item>:<qty>',
  magento_order_id INT UNSIGNED NULL COMMENT 'sales_order.entity_id commented on',
  comment          TEXT         NOT NULL,
  announced_at     DATETIME(6)  NOT NULL,
  PRIMARY KEY (amazon_order_id, change_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Amazon changes announced in Magento';

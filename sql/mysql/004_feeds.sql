-- 004: SP-API feeds and the messages inside them. Every state change is written before
-- the next call to Amazon (docs/feeds.md).

CREATE TABLE IF NOT EXISTS refund_bridge_feed (
  id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  account_id         VARCHAR(64)  NOT NULL,
  feed_type          VARCHAR(64)  NOT NULL COMMENT 'POST_PAYMENT_ADJUSTMENT_DATA or POST_ORDER_ACKNOWLEDGEMENT_DATA',
  marketplace_id     VARCHAR(32)  NOT NULL,
  state              VARCHAR(32)  NOT NULL COMMENT 'planned, document_created, uploaded, submitting, submitted, done, cancelled, fatal, unknown',
  content            MEDIUMTEXT   NOT NULL COMMENT 'The exact XML sent',
  content_sha256     VARCHAR(64)  NOT NULL,
  message_count      INT          NOT NULL,
  document_id        VARCHAR(255) NULL COMMENT 'feedDocumentId of the input document',
  upload_url         TEXT         NULL,
  amazon_feed_id     VARCHAR(64)  NULL COMMENT 'feedId from createFeed',
  processing_status  VARCHAR(32)  NULL COMMENT 'Last processingStatus from getFeed',
  result_document_id VARCHAR(255) NULL,
  submit_started_at  DATETIME(6)  NULL COMMENT 'Written before createFeed: the window to reconcile in',
  submitted_at       DATETIME(6)  NULL,
  finished_at        DATETIME(6)  NULL,
  next_check_at      DATETIME(6)  NOT NULL,
  attempts           INT          NOT NULL DEFAULT 0,
  lease_token        VARCHAR(36)  NULL,
  lease_expires_at   DATETIME(6)  NULL,
  last_error         TEXT         NULL,
  created_at         DATETIME(6)  NOT NULL,
  updated_at         DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY REFUND_BRIDGE_FEED_STATE_NEXT_CHECK (state, next_check_at, id),
  KEY REFUND_BRIDGE_FEED_AMAZON_FEED_ID (amazon_feed_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='SP-API feeds';

CREATE TABLE IF NOT EXISTS refund_bridge_feed_message (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  outbox_id        BIGINT UNSIGNED NOT NULL,
  account_id       VARCHAR(64)  NOT NULL,
  marketplace_id   VARCHAR(32)  NOT NULL,
  feed_type        VARCHAR(64)  NOT NULL,
  amazon_order_id  VARCHAR(32)  NOT NULL,
  magento_order_id INT UNSIGNED NOT NULL,
  decision         MEDIUMTEXT   NOT NULL COMMENT 'JSON of the Cancel or Refund decision',
  feed_pk          BIGINT UNSIGNED NULL COMMENT 'refund_bridge_feed.id',
  message_id       INT          NULL COMMENT 'MessageID inside the feed',
  state            VARCHAR(16)  NOT NULL DEFAULT 'planned' COMMENT 'planned, in_feed, accepted, rejected, unknown',
  result_code      VARCHAR(32)  NULL,
  result_message   TEXT         NULL,
  created_at       DATETIME(6)  NOT NULL,
  updated_at       DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY REFUND_BRIDGE_FEED_MESSAGE_PENDING (state, account_id, feed_type, id),
  KEY REFUND_BRIDGE_FEED_MESSAGE_FEED (feed_pk),
  KEY REFUND_BRIDGE_FEED_MESSAGE_OUTBOX (outbox_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Feed messages';

-- 003: Amazon's view of each order (from getOrder / searchOrders) and the refund ledger.

CREATE TABLE IF NOT EXISTS refund_bridge_amazon_order (
  amazon_order_id        VARCHAR(32)  NOT NULL,
  account_id             VARCHAR(64)  NOT NULL,
  marketplace_id         VARCHAR(32)  NOT NULL,
  status                 VARCHAR(32)  NOT NULL COMMENT 'Pending, Unshipped, PartiallyShipped, Shipped, Canceled, ...',
  fulfillment_channel    VARCHAR(8)   NOT NULL COMMENT 'MFN or AFN (FBA)',
  currency               VARCHAR(3)   NOT NULL,
  prices_include_tax     TINYINT(1)   NULL COMMENT 'Amazon prices include VAT; NULL: unknown, the account convention decides',
  last_updated_at        DATETIME(6)  NOT NULL COMMENT 'Amazon lastUpdatedTime',
  fetched_at             DATETIME(6)  NOT NULL COMMENT 'When the sidecar read it',
  buyer_cancel_requested TINYINT(1)   NOT NULL DEFAULT 0,
  buyer_cancel_reason    VARCHAR(255) NULL,
  magento_order_id       INT UNSIGNED NULL COMMENT 'sales_order.entity_id',
  raw                    MEDIUMTEXT   NULL COMMENT 'Amazon JSON as received',
  created_at             DATETIME(6)  NOT NULL,
  updated_at             DATETIME(6)  NOT NULL,
  PRIMARY KEY (amazon_order_id),
  KEY REFUND_BRIDGE_AMAZON_ORDER_MAGENTO_ORDER_ID (magento_order_id),
  KEY REFUND_BRIDGE_AMAZON_ORDER_ACCOUNT_STATUS (account_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Amazon orders as last read';

CREATE TABLE IF NOT EXISTS refund_bridge_amazon_order_item (
  amazon_order_id        VARCHAR(32)   NOT NULL,
  order_item_id          VARCHAR(20)   NOT NULL COMMENT 'AmazonOrderItemCode',
  seller_sku             VARCHAR(255)  NOT NULL,
  quantity_ordered       INT           NOT NULL,
  quantity_shipped       INT           NOT NULL,
  quantity_canceled      INT           NOT NULL DEFAULT 0,
  item_price             DECIMAL(20,4) NOT NULL COMMENT 'For quantity_ordered units',
  item_tax               DECIMAL(20,4) NOT NULL,
  shipping_price         DECIMAL(20,4) NOT NULL,
  shipping_tax           DECIMAL(20,4) NOT NULL,
  promotion_discount     DECIMAL(20,4) NOT NULL DEFAULT 0,
  promotion_discount_tax DECIMAL(20,4) NOT NULL DEFAULT 0,
  shipping_discount      DECIMAL(20,4) NOT NULL DEFAULT 0,
  shipping_discount_tax  DECIMAL(20,4) NOT NULL DEFAULT 0,
  buyer_cancel_requested TINYINT(1)    NOT NULL DEFAULT 0,
  buyer_cancel_reason    VARCHAR(255)  NULL,
  magento_order_item_id  INT UNSIGNED  NULL COMMENT 'sales_order_item.item_id',
  PRIMARY KEY (amazon_order_id, order_item_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Amazon order items as last read';

CREATE TABLE IF NOT EXISTS refund_bridge_ledger (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  amazon_order_id VARCHAR(32)     NOT NULL,
  order_item_id   VARCHAR(20)     NOT NULL,
  component       VARCHAR(32)     NOT NULL COMMENT 'Principal, Tax, Shipping, ShippingTax, RestockingFee, Cancel',
  amount          DECIMAL(20,4)   NOT NULL,
  quantity        INT             NOT NULL DEFAULT 0 COMMENT 'Units, on the Principal row of a line',
  cancelled       TINYINT(1)      NOT NULL DEFAULT 0 COMMENT '1: quantity counts QuantityCancelled units',
  creditmemo_id   INT UNSIGNED    NOT NULL,
  outbox_id       BIGINT UNSIGNED NOT NULL,
  feed_message_id BIGINT UNSIGNED NOT NULL,
  state           VARCHAR(16)     NOT NULL DEFAULT 'pending' COMMENT 'pending, confirmed, rejected',
  created_at      DATETIME(6)     NOT NULL,
  updated_at      DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  KEY REFUND_BRIDGE_LEDGER_ORDER (amazon_order_id, order_item_id),
  KEY REFUND_BRIDGE_LEDGER_FEED_MESSAGE (feed_message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='Refunds and cancellations sent per item';

-- 011: gift wrap Amazon charged per item (GIFT_WRAP proceeds and their tax), so an order read
-- back from the database refunds gift wrap with its item exactly as a freshly read one does
-- (docs/rules.md, gift wrap). On MySQL 8 the runner drops IF NOT EXISTS (sidecar/migrate_mysql.py).

ALTER TABLE refund_bridge_amazon_order_item
  ADD COLUMN IF NOT EXISTS gift_wrap_price DECIMAL(20,4) NOT NULL DEFAULT 0 COMMENT 'GIFT_WRAP charged, for quantity_ordered units' AFTER shipping_discount_tax,
  ADD COLUMN IF NOT EXISTS gift_wrap_tax DECIMAL(20,4) NOT NULL DEFAULT 0 AFTER gift_wrap_price;

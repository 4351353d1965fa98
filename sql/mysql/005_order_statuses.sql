-- 005: custom Magento order statuses the sidecar sets. They are assigned to the states an
-- order can be in after a credit memo; the sidecar changes sales_order.status (and the
-- grid copy) only, never sales_order.state, and only to a status assigned to that state.
INSERT IGNORE INTO sales_order_status (status, label) VALUES
  ('amazon_refund_pending', 'Amazon refund pending'),
  ('amazon_refund_failed',  'Amazon refund failed'),
  ('amazon_refunded',       'Amazon refunded'),
  ('amazon_canceled',       'Amazon canceled');

INSERT IGNORE INTO sales_order_status_state (status, state, is_default, visible_on_front) VALUES
  ('amazon_refund_pending', 'processing', 0, 1),
  ('amazon_refund_pending', 'complete',   0, 1),
  ('amazon_refund_pending', 'closed',     0, 1),
  ('amazon_refund_failed',  'processing', 0, 1),
  ('amazon_refund_failed',  'complete',   0, 1),
  ('amazon_refund_failed',  'closed',     0, 1),
  ('amazon_refunded',       'processing', 0, 1),
  ('amazon_refunded',       'complete',   0, 1),
  ('amazon_refunded',       'closed',     0, 1),
  ('amazon_canceled',       'closed',     0, 1),
  ('amazon_canceled',       'canceled',   0, 1);

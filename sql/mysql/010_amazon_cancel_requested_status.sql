-- 010: the buyer asked Amazon to cancel (issue 9): visible in the order grid before crediting.
-- Assigned to the states an Unshipped Amazon order is in; the sidecar sets it only when it
-- is assigned to the order's current state, never changing sales_order.state.
INSERT IGNORE INTO sales_order_status (status, label) VALUES
  ('amazon_cancel_requested', 'Amazon: cancellation requested');

INSERT IGNORE INTO sales_order_status_state (status, state, is_default, visible_on_front) VALUES
  ('amazon_cancel_requested', 'processing', 0, 1),
  ('amazon_cancel_requested', 'new',        0, 1);

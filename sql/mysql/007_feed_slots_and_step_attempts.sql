-- 007: one feed per (seller, feed type, marketplace) on its way to a stored feedId, enforced
-- by a unique key; failure counters per step of the feed state machine (docs/feeds.md).
-- inflight_slot is set when the feed is planned (and again when it enters `submitting`) and
-- cleared when its feedId is stored or the feed ends: two feeds of one slot can never both
-- wait for a createFeed answer, so reconciliation never has two of ours to tell apart.

ALTER TABLE refund_bridge_feed
  ADD COLUMN IF NOT EXISTS inflight_slot VARCHAR(191) NULL COMMENT 'seller|feed type|marketplace while between planned and feedId stored; NULL otherwise' AFTER marketplace_id,
  ADD COLUMN IF NOT EXISTS submit_attempts INT NOT NULL DEFAULT 0 COMMENT 'createFeed calls that failed without a throttle' AFTER attempts,
  ADD COLUMN IF NOT EXISTS poll_attempts INT NOT NULL DEFAULT 0 COMMENT 'getFeed answers that were failures or anomalies' AFTER submit_attempts,
  ADD COLUMN IF NOT EXISTS report_attempts INT NOT NULL DEFAULT 0 COMMENT 'processing report reads that could not be used' AFTER poll_attempts,
  ADD UNIQUE KEY IF NOT EXISTS REFUND_BRIDGE_FEED_INFLIGHT_SLOT (inflight_slot);

"""Plan: batch the messages waiting per (account, feed type, marketplace) into one feed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime

from sidecar import codec
from sidecar.amazon.feed_xml import (
    FEED_TYPE_ACKNOWLEDGEMENT,
    MAX_FEED_BYTES,
    MESSAGE_TYPE_ACKNOWLEDGEMENT,
    MESSAGE_TYPE_ADJUSTMENT,
    FeedBuilder,
)
from sidecar.config import AmazonAccount
from sidecar.dao import feeds as dao
from sidecar.dao import outbox as outbox_dao
from sidecar.feeds.common import MAX_MESSAGES_PER_FEED, PLAN_HOLD_MAX, Step

log = logging.getLogger("sidecar.feeds")


class Plan(Step):
    def __call__(self) -> list[int]:
        """One feed per group with waiting messages, built only when createFeed has a token
        and no other feed of the group holds its in-flight slot: until then messages keep
        collecting, so the feed Amazon gets is as full as it can be. The slot itself is
        taken inside the planning transaction (dao.plan_feed); the checks here only save
        building XML that would be refused. While credit memos are still claimable a group
        is held (`ready`), so a backlog does not spend createFeed's burst on small feeds."""
        planned = []
        busy_slots = dao.slots_in_flight(self.ctx.engine)
        legacy = dao.groups_in_flight(self.ctx.engine)
        groups = dao.planned_groups(self.ctx.engine)
        if groups and outbox_dao.claimable_exists(self.ctx.engine, self.ctx.now()):
            # a backlog is still being decided: its messages join these feeds
            groups = [g for g in groups if ready(g, self.ctx.now())]
        for group in groups:
            account_id, feed_type, marketplace_id = (
                group.account_id, group.feed_type, group.marketplace_id
            )
            try:
                account = self.ctx.config.account(account_id)
            except KeyError:
                log.error("messages for unknown account %s wait until it is configured", account_id)
                continue
            slot = dao.slot_of(account.seller_id, feed_type, marketplace_id)
            if slot in busy_slots or (account_id, feed_type, marketplace_id) in legacy:
                continue
            limiter = self.ctx.limiter
            if limiter is not None and limiter.peek(account_id, "createFeed") > 0:
                continue  # no createFeed token yet: let the batch grow until there is one
            try:
                feed_pk = dao.plan_feed(
                    self.ctx.engine,
                    account_id=account_id,
                    feed_type=feed_type,
                    marketplace_id=marketplace_id,
                    max_messages=MAX_MESSAGES_PER_FEED,
                    build=functools.partial(build, account, feed_type),
                    slot=slot,
                )
            except Exception:  # one group's trouble never stops the others nor the feeds
                log.exception(
                    "could not plan a %s feed for %s / %s", feed_type, account_id, marketplace_id
                )
                continue
            if feed_pk is not None:
                planned.append(feed_pk)
                busy_slots.add(slot)
        return planned


def ready(group: dao.PlannedGroup, now: datetime) -> bool:
    """Planned despite a backlog: the group already fills a feed, or its oldest message has
    waited PLAN_HOLD_MAX (so a constant stream of credit memos cannot starve planning)."""
    full = group.count >= MAX_MESSAGES_PER_FEED or group.size >= MAX_FEED_BYTES
    return full or now - group.oldest >= PLAN_HOLD_MAX


def build(
    account: AmazonAccount, feed_type: str, messages: Sequence[tuple[int, str]]
) -> tuple[bytes, int]:
    message_type = (
        MESSAGE_TYPE_ACKNOWLEDGEMENT if feed_type == FEED_TYPE_ACKNOWLEDGEMENT
        else MESSAGE_TYPE_ADJUSTMENT
    )
    builder = FeedBuilder(account.seller_id, message_type)
    used = 0
    for message_id, raw in messages:
        if not builder.try_add(message_id, codec.load_decision(raw)):
            break
        used += 1
    return builder.to_bytes(), used

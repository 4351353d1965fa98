"""Apply a feed's outcome to its messages: the outbox rows, the ledger, Magento's order."""

from __future__ import annotations

from sqlalchemy import Connection

from sidecar import codec
from sidecar.amazon.client import SpApiError
from sidecar.amazon.report import MessageResult
from sidecar.dao import amazon_orders, magento
from sidecar.dao import feeds as dao
from sidecar.dao import outbox as outbox_dao
from sidecar.domain import Cancel
from sidecar.feeds.common import Step, StepResult, settle


class Apply(Step):
    def result(
        self, conn: Connection, row: dao.FeedRow, m: dao.MessageRow, result: MessageResult | None
    ) -> None:
        """One message's line of the processing report (None: no error = accepted)."""
        decision = codec.load_decision(m.decision)
        what = codec.describe(decision)
        if result is None:
            dao.set_message_result(conn, m.id, "accepted")
            amazon_orders.settle_ledger(conn, m.id, "confirmed")
            text = f"Amazon accepted (feed {row.amazon_feed_id}): {what}"
            if decision.note:  # why the amount differs from the credit memo stays visible
                text += f" ({decision.note})"
            outbox_dao.settle_submitted_in(conn, m.outbox_id, "done", text)
            whole = isinstance(decision, Cancel) and decision.whole_order
            status = magento.CANCELED if whole else magento.REFUNDED
            magento.record(conn, m.magento_order_id, text, status)
            return
        code, description = str(result.message_code), result.description
        dao.set_message_result(conn, m.id, "rejected", code=code, message=description)
        amazon_orders.settle_ledger(conn, m.id, "rejected")
        source = f"feed {row.amazon_feed_id}" if row.amazon_feed_id else "createFeed"
        text = f"Amazon rejected ({source}, code {code}): {description} -- was: {what}"
        outbox_dao.settle_submitted_in(conn, m.outbox_id, "rejected", text)
        magento.record(conn, m.magento_order_id, text, magento.FAILED)

    def refused(self, row: dao.FeedRow, exc: SpApiError, why: str) -> StepResult:
        """createFeed refused for good and created nothing: every message ends rejected
        (ledger released) with the reason; an operator requeues them once it is fixed."""
        with self.ctx.engine.begin() as conn:
            settle(conn, row, state="cancelled", last_error=why, finished_at=self.ctx.now())
            for m in dao.messages_of(conn, row.id):
                refusal = MessageResult(m.message_id or 0, "Error", exc.status, why)
                self.result(conn, row, m, refusal)
        return StepResult(row.id, "cancelled", why)

    def submitted(self, feed_pk: int, amazon_feed_id: str) -> None:
        with self.ctx.engine.begin() as conn:
            for m in dao.messages_of(conn, feed_pk):
                decision = codec.load_decision(m.decision)
                magento.add_comment(
                    conn,
                    m.magento_order_id,
                    f"submitted to Amazon in feed {amazon_feed_id}: {codec.describe(decision)}",
                )

    def unknown(self, row: dao.FeedRow, why: str, **values: object) -> StepResult:
        """The feed's outcome cannot be known: it ends `unknown`, never resubmitted."""
        final: dict[str, object] = {
            "state": "unknown", "last_error": why, "finished_at": self.ctx.now(), **values
        }
        with self.ctx.engine.begin() as conn:
            settle(conn, row, **final)
            self.unprocessed(conn, row, why)
        return StepResult(row.id, str(final["state"]), why)

    def unprocessed(self, conn: Connection, row: dao.FeedRow, why: str) -> None:
        """A feed whose outcome cannot be known: cancellations are safe to send again (Amazon
        refuses to cancel twice); refunds are parked for a human, their ledger kept as spent."""
        for m in dao.messages_of(conn, row.id):
            decision = codec.load_decision(m.decision)
            if isinstance(decision, Cancel):
                dao.replan_message(conn, m.id, why)
                continue
            dao.set_message_result(conn, m.id, "unknown", message=why)
            instruction = (
                f"UNKNOWN OUTCOME: Amazon may or may not have refunded {decision.total} "
                f"{decision.currency} on {decision.amazon_order_id} ({why}). Check the order in "
                "Seller Central. If the refund is there: `sidecar outbox resolve "
                f"{m.outbox_id} --done --reason ...`; if not: `sidecar outbox resolve "
                f"{m.outbox_id} --requeue --reason ...`. It is never re-sent automatically."
            )
            outbox_dao.settle_submitted_in(conn, m.outbox_id, "needs_attention", instruction)
            magento.record(conn, m.magento_order_id, instruction, magento.FAILED)

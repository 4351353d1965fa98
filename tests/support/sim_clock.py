"""One simulated clock for the emulator, the worker's now() and the rate limiter.

Shared by the order-sync e2e tests and `make bench` section 6: time moves only when the
test (or a rate-limit wait) advances it, so nothing sleeps for real."""

from __future__ import annotations

from datetime import UTC, datetime

from sidecar.emulator.config import ManualClock


class SimClock(ManualClock):
    def __call__(self) -> datetime:  # the worker's now(): naive UTC, as the sidecar stores it
        return datetime.fromtimestamp(self.time(), UTC).replace(tzinfo=None)

    def epoch_us(self) -> int:  # the rate limiter's clock
        return int(self.time() * 1_000_000)

    def sleep(self, seconds: float) -> None:  # a wait advances the clock instead of sleeping
        self.advance(max(0.0, seconds))

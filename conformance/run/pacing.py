"""Pacing a run's sends: the politeness bounds a live target is spared by, and the shared pacer.

Shared by every connection of a run: the rate is over all of them, and the time budget is a
promise about the end (an update is sent only while its answer and the listening out still fit).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Politeness:
    """Bounds that spare a shared server: rate, total exchanges, total time, connect retries.

    The time budget is a promise about the end: an update is sent only while its answer and the
    listening out after it still fit (an answer cut short would read as a missing one).
    """

    rate: float | None = None  # updates per second, over all connections
    max_exchanges: int | None = None
    budget_s: float | None = None
    connect_retries: int = 2
    retry_backoff_s: float = 0.5
    #: How long one update may stay throttled before the target is called untestable (None: ten
    #: answer timeouts); the backoff starts at an eighth of the timeout and doubles up to two.
    throttle_budget_s: float | None = None
    #: Connections held open at once beyond `concurrency` only to wait: listening out their last
    #: timeout, or waiting one out before their next update; bounded further by the open files the
    #: process may have (`listening_room`).
    max_listening: int = 4096


def listening_room() -> int:
    """How many connections may listen at once within the open-file limit: two descriptors each
    (the embedded mock's end of the socket lives in this process too), a few hundred kept spare."""
    try:
        import resource  # POSIX only
    except ImportError:
        return 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 30 if soft == resource.RLIM_INFINITY else max(8, (soft - 256) // 2)


class Pacer:
    """Shared by all connections of a run: paces sends to the rate, and stops at the budget.

    `hear_out_s` is how long an update sent now may still need (its answer, then listening out):
    with a time budget, no update is sent that could not be heard out before the deadline.
    """

    def __init__(self, politeness: Politeness, hear_out_s: float = 0.0) -> None:
        self._politeness = politeness
        self._hear_out_s = hear_out_s
        self._deadline = time.monotonic() + politeness.budget_s if politeness.budget_s else None
        self._next = time.monotonic()
        self._sent = 0
        self.exhausted: str | None = None

    @property
    def bounded(self) -> bool:
        """Whether the run's exchanges or time are budgeted (what a send spends, another cannot)."""
        return self._politeness.max_exchanges is not None or self._deadline is not None

    def room(self, ahead_s: float = 0.0) -> bool:
        """Whether an update sent `ahead_s` from now could still be heard out within the time budget."""
        if self._deadline is not None and time.monotonic() + ahead_s + self._hear_out_s > self._deadline:
            self.exhausted = self.exhausted or f"the time budget ({self._politeness.budget_s:g}s) is spent"
        return self.exhausted is None

    async def admit(self) -> bool:
        """Wait for the next send's turn; False once the budget of exchanges or time is spent."""
        p = self._politeness
        if p.max_exchanges is not None and self._sent >= p.max_exchanges:
            self.exhausted = f"the exchange budget ({p.max_exchanges}) is spent"
        wait = 0.0
        if p.rate:
            now = time.monotonic()
            wait = max(0.0, self._next - now)
        if not self.room(wait):
            return False
        self._sent += 1  # reserved before any wait, so concurrent connections cannot overshoot
        if p.rate:
            self._next = max(self._next, now) + 1.0 / p.rate
            await asyncio.sleep(wait)
        return True

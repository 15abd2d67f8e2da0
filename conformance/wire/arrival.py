"""When a frame arrived, at the earliest: an event loop whose polls keep time.

A frame is read when our event loop gets to it. If our process paused (a collection, a C call holding
the GIL, a starved CPU) while an answer was on its way, the answer is read late though it arrived in
time, and a target would be blamed for our pause. The loop made here cannot see when bytes reached
the socket, but it knows when they may first have: what a poll finds ready when it starts arrived
after the previous poll ended (that one would have reported it), and what a poll waited for arrived
as it returned. So each frame is stamped with the earliest time it may have arrived: never later
than the truth, and earlier only by our own pause (the benefit of the doubt is the target's).
"""

from __future__ import annotations

import asyncio
import selectors
import time
import weakref
from collections.abc import Callable


class PollClock(selectors.DefaultSelector):
    """The platform's selector, keeping `since`: the earliest time what the last poll found may have
    arrived. It first looks without waiting (one more system call, only when nothing is ready)."""

    def __init__(self) -> None:
        super().__init__()
        self.since = self._ended = time.monotonic()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            self.since = self._ended  # there as the poll began: arrived after the previous poll ended
        else:
            ready = super().select(timeout)
            self.since = time.monotonic()  # waited for: it arrived as the poll returned
        self._ended = time.monotonic()
        return ready

    def arrived_since(self) -> float:
        return self.since


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollClock] = weakref.WeakKeyDictionary()


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose reads know their earliest arrival time (`asyncio.Runner(loop_factory=new_loop)`)."""
    clock = PollClock()
    loop = asyncio.SelectorEventLoop(clock)
    _clocks[loop] = clock
    return loop


def arrival_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """The earliest monotonic time what `loop` is reading now may have arrived: its polls' bound for a loop
    made by `new_loop`, else the time now (a loop made elsewhere, whose polls we cannot see)."""
    clock = _clocks.get(loop)
    return time.monotonic if clock is None else clock.arrived_since

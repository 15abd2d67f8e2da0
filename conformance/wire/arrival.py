"""When a frame arrived, at the earliest: an event loop whose polls keep time.

A frame is read when our event loop gets to it. If our process paused (a collection, a C call holding
the GIL, a starved CPU) while an answer was on its way, the answer is read late though it arrived in
time, and a target would be blamed for our pause. The loop made here cannot see when bytes reached the
socket, but it knows a time before which they had not: each poll looks once without waiting, so what
it finds then arrived after the previous poll last looked (that one would have reported it), and what
a wait reports arrived after the wait began (when our thread ran again once it returned, we cannot
know: a starved thread wakes late). Each frame keeps that bound beside the time it was read; judging
blames lateness only where the bound is late, and holds an answer in time only where its reading is.
"""

from __future__ import annotations

import asyncio
import selectors
import time
import weakref
from collections.abc import Callable


class PollClock(selectors.DefaultSelector):
    """The platform's selector, keeping `since`: a monotonic time before which nothing the last poll found
    had arrived. It first looks without waiting (one more system call, only when nothing is ready), and
    looks again when a wait found nothing (one more, only when a timer is due)."""

    def __init__(self) -> None:
        super().__init__()
        self.since = self._looked = time.monotonic()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        looking = time.monotonic()
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            self.since, self._looked = self._looked, looking  # there already: it came after the last look began
        else:
            # a wait our process was stopped in returns empty once its time is past (CPython gives up on EINTR
            # past the deadline): one more look, or what came meanwhile is read after the timers that expired
            ready = super().select(timeout) or super().select(0)
            self.since = self._looked = looking  # waited for: it came after the look found nothing
        return ready

    def arrived_since(self) -> float:
        return self.since


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PollClock] = weakref.WeakKeyDictionary()


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose reads know their earliest arrival (`asyncio.Runner(loop_factory=new_loop)`)."""
    clock = PollClock()
    loop = asyncio.SelectorEventLoop(clock)
    _clocks[loop] = clock
    return loop


def arrival_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """A monotonic time before which nothing `loop` is reading now had arrived: its polls' bound for a loop
    made by `new_loop`, else the time now (a loop made elsewhere, whose polls we cannot see)."""
    clock = _clocks.get(loop)
    return time.monotonic if clock is None else clock.arrived_since

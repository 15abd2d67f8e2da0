"""Cyclic garbage collection paused where it only costs time: while plans run and while one is judged.

Those allocate what a connection keeps (its frames and their parses) and almost no reference cycles
(reference counting frees the rest), yet every collection that the allocations trigger rescans all
that is kept: on a long connection, a fifth of the exchange path's time and most of judging's.
Pauses nest and may overlap across threads (the run's event loop, the recorder's judging thread):
collection is off while any is held and back as it was once the last ends. While plans run,
`scheduled` collects on the run's schedule instead, so the few cycles a closed connection leaves
(its socket and transport) are freed within seconds, not at the run's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import AsyncIterator, Iterator

_lock = threading.Lock()
_held = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No automatic cyclic collection within; the state before the first pause is restored after the last."""
    global _held, _was_enabled
    with _lock:
        if _held == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _held += 1
    try:
        yield
    finally:
        with _lock:
            _held -= 1
            if _held == 0 and _was_enabled:
                gc.enable()


#: Seconds between the collections a run schedules while automatic collection is paused.
EVERY_S = 1.0
_runs = 0


@contextlib.asynccontextmanager
async def scheduled(every_s: float = EVERY_S) -> AsyncIterator[None]:
    """While plans run: automatic collection paused, what was allocated before frozen out of every
    collection (`gc.freeze`: the process' own heap is not the run's garbage, and may be large), and the
    run's objects collected every `every_s` seconds: its live heap is flat (each connection is judged
    and written as it ends), so each collection is short however long the run."""
    global _runs
    with paused():
        with _lock:
            if _runs == 0:
                gc.freeze()
            _runs += 1
        collecting = asyncio.ensure_future(_collect_every(every_s))
        try:
            yield
        finally:
            collecting.cancel()
            with _lock:
                _runs -= 1
                if _runs == 0:
                    gc.unfreeze()


async def _collect_every(seconds: float) -> None:
    for _ in range(1 << 62):  # until cancelled with the run
        await asyncio.sleep(seconds)
        gc.collect()

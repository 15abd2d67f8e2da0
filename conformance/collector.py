"""Cyclic garbage collection paused where it only costs time: while plans run and while one is judged.

Those allocate what a connection keeps (its frames and their parses) and almost no reference cycles
(reference counting frees the rest), yet every collection that the allocations trigger rescans all
that is kept: on a long connection, a fifth of the exchange path's time and most of judging's.
Pauses nest and may overlap across threads (the run's event loop, the recorder's judging thread):
collection is off while any is held and back as it was once the last ends. While a run holds one,
`collect_every` collects on the run's schedule instead, so the few cycles a closed connection
leaves are freed within seconds, not never.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Iterator

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


async def collect_every(seconds: float = EVERY_S) -> None:
    """Collect all generations every `seconds`, until cancelled: the live heap of a run is flat (each
    connection is judged and written as it ends), so each collection is as short as the run is long."""
    for _ in range(1 << 62):  # until cancelled with the run
        await asyncio.sleep(seconds)
        gc.collect()

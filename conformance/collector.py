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
_froze = False  # whether `freeze` froze this process' heap (gc.get_freeze_count walks it all: 40 ms)


def freeze() -> None:
    """Freeze what is alive now (a whole process' start-up heap: the imported modules are never
    garbage), sparing every later collection from scanning it; runs then freeze theirs as they begin."""
    global _froze
    gc.collect()
    gc.freeze()
    _froze = True


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


#: Seconds between the young collections a run schedules while automatic collection is paused, and
#: how many of those between full ones (every 10 s). Each is a pause that every answer in flight waits
#: through, as long as what was allocated since the last: a young one every second paused 150 ms in
#: a certify run against the mock (answers stamped up to 300 ms late), every quarter second 30 ms.
EVERY_S, FULL_EVERY = 0.25, 40


@contextlib.asynccontextmanager
async def scheduled(every_s: float = EVERY_S, full_every: int = FULL_EVERY) -> AsyncIterator[None]:
    """While plans run: automatic collection paused; the young generations collected every `every_s`
    seconds (what a run allocates and still holds is young: in-flight connections), and everything
    every `full_every` of those (cycles of connections that lived long enough to be promoted).

    In a process that froze its heap (`freeze`: the CLI freezes its start-up heap), what is alive when the run
    begins is frozen too: the test machinery, mock and corpus loaded since are no garbage, and the
    run's collections, each a pause every answer in flight waits through, scan only what it allocates.
    """
    if _froze:
        gc.freeze()
    with paused():
        collecting = asyncio.ensure_future(_collect_every(every_s, full_every))
        try:
            yield
        finally:
            collecting.cancel()


async def _collect_every(seconds: float, full_every: int) -> None:
    for tick in range(1, 1 << 62):  # until cancelled with the run
        await asyncio.sleep(seconds)
        gc.collect(2 if tick % full_every == 0 else 1)

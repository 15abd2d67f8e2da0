"""Cyclic garbage collection is paused while plans run and while a connection is judged, and done on the
run's schedule instead: pauses nest across threads, the state before is restored, and a cycle a run
leaves (young, or promoted because it lived long) is still freed within the schedule."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from conformance import collector
from conformance.collector import paused, scheduled


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collecting() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.enable()
    yield
    if not enabled:
        gc.disable()


@pytest.mark.usefixtures("collecting")
def test_pauses_nest_across_threads_and_restore_the_state_before() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first pause ended, this one still holds

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # a process that turned collection off keeps it off
    finally:
        gc.enable()


@pytest.mark.usefixtures("collecting")
def test_a_run_frees_young_and_promoted_cycles_on_its_schedule() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        async with scheduled(every_s=0.05, full_every=3):
            paused_within = not gc.isenabled()
            old = Node()
            gc.collect(1)  # alive through a young collection: promoted, as a long connection's objects are
            gc.collect(1)
            old_ref = weakref.ref(old)
            young_ref = weakref.ref(Node())  # garbage at once, in a cycle
            del old
            for _ in range(100):  # bounded: 5 s
                if young_ref() is None and old_ref() is None:
                    break
                await asyncio.sleep(0.05)
            return paused_within, young_ref() is None, old_ref() is None

    paused_within, young_freed, old_freed = asyncio.run(scenario())
    assert paused_within and young_freed and old_freed
    assert gc.isenabled()


def test_a_process_that_froze_its_heap_freezes_what_is_alive_when_a_run_begins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI freezes its start-up heap (`collector.freeze`); what it loads before the run (the test
    machinery, the mock, the corpus) is frozen as the run begins, so the run's collections scan only what
    the run allocates. A process that froze nothing (a test session, a library user) is left as it is."""

    async def frozen_within() -> int:
        async with scheduled():
            return gc.get_freeze_count()

    assert gc.get_freeze_count() == 0  # pytest freezes nothing
    assert asyncio.run(frozen_within()) == 0
    monkeypatch.setattr(collector, "_froze", False)  # restored after the test
    try:
        collector.freeze()
        before = gc.get_freeze_count()
        loaded = [[n] for n in range(1000)]  # tracked objects alive when the run begins
        assert asyncio.run(frozen_within()) >= before + len(loaded)
    finally:
        gc.unfreeze()

"""Ctrl-C and SIGTERM (what CI sends on a job timeout) end a run the same way: exit 130, report written.

While the target is exercised (drawing the corpus, the exchanges, shrinking, the HTML) a signal
interrupts at once, as Ctrl-C does: asyncio cancels the run's tasks, which keep what they recorded.
While what ran is judged and written (seconds), a first signal is only noted, so a report is never
left half-written; a second one stops at once (the previous report is then left as it was).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

received: list[int] = []  # the signals that arrived, in order
_installed = False


def install() -> None:
    """Take over SIGINT and SIGTERM (a whole CLI process, from its main thread)."""
    global _installed
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    _installed = True


def as_ctrl_c() -> None:
    """SIGTERM does what Ctrl-C does, a KeyboardInterrupt: for a whole process of a command other than `run`
    (validate, verify, replay, mock…), whose Ctrl-C is Python's own (exit 130 in one line, temporary files
    removed, what ran reported). Its default killed them where they stood: exit 143, nothing said or cleaned."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def name() -> str:
    """The signals that arrived, as a user reads them ("Ctrl-C", "SIGTERM")."""
    names = {int(signal.SIGINT): "Ctrl-C", int(signal.SIGTERM): "SIGTERM"}
    return " then ".join(dict.fromkeys(names.get(s, f"signal {s}") for s in received)) or "nothing"


def _on_signal(signum: int, frame: FrameType | None) -> None:
    received.append(signum)
    if signum == signal.SIGTERM:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not _on_signal:  # an armed phase: whatever Ctrl-C does there
            handler(signum, frame)
            return
    if len(received) > 1:
        raise KeyboardInterrupt


def noted() -> None:
    """A KeyboardInterrupt ended an armed phase: noted as Ctrl-C, unless a SIGTERM (noted as it came) brought it."""
    if not received:
        received.append(int(signal.SIGINT))


@contextlib.contextmanager
def armed() -> Iterator[None]:
    """A phase that a signal interrupts at once (KeyboardInterrupt, or asyncio's graceful cancel).

    A signal noted before the phase interrupts it as it starts. Without `install`, nothing changes.
    """
    if not _installed:
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # what asyncio.run builds on
    try:
        if received:
            raise KeyboardInterrupt
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_armed(
    main: Callable[[], Coroutine[Any, Any, T]], loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
) -> T:
    """`asyncio.run(main())` as an armed phase, its event loop (`loop_factory`'s) made before the phase is armed:
    a signal that interrupted the making of a loop left it half made, and its collection printed a traceback."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.get_loop()
        with armed():
            return runner.run(main())


@contextlib.contextmanager
def passed_to_workers() -> Iterator[None]:
    """While pytest-xdist workers run: a signal goes on to them (as Ctrl-C), so each ends its share
    the way a serial run does and hands back what it ran; a second signal stops at once."""
    if not _installed:
        yield
        return

    forwarded: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:  # (a SIGTERM was noted on its way here)
            received.append(signum)
        workers = _children()
        if forwarded or not workers:
            raise KeyboardInterrupt
        forwarded.append(signum)
        for pid in workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _children() -> list[int]:
    """This process's children (Linux /proc; elsewhere none are found, and a signal interrupts at once)."""
    pids: list[int] = []
    for listing in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(pid) for pid in listing.read_text().split()]
    return pids

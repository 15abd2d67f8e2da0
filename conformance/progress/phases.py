"""The display a run reports its phases to (`begin`, `step`, `end`): one at a time, installed by the
CLI (`terminal.shown`) or in a worker (`workers.report_to_controller`); with none installed they cost nothing."""

from __future__ import annotations

from typing import Protocol


class Display(Protocol):
    def begin(self, phase: str, total: int | None) -> None: ...
    def step(self, phase: str, done: int) -> None: ...
    def end(self, phase: str) -> None: ...
    def say(self, line: str) -> None: ...
    def close(self) -> None: ...


_display: Display | None = None


def install(display: Display | None) -> None:
    """Report to `display` from now on (None: to nothing)."""
    global _display
    _display = display


def current() -> Display | None:
    return _display


def begin(phase: str, total: int | None = None) -> None:
    """A phase starts: `total` steps, or None when how many is not known (a spinner)."""
    if _display is not None:
        _display.begin(phase, total)


def step(phase: str, done: int) -> None:
    """`done` steps of the phase are done (a count, not an increment: workers' sums stay right)."""
    if _display is not None:
        _display.step(phase, done)


def end(phase: str) -> None:
    if _display is not None:
        _display.end(phase)


def say(line: str) -> None:
    """A line for the user beside the display (nothing when quiet or when no display is installed)."""
    if _display is not None:
        _display.say(line)


def close() -> None:
    """Stop the display now (before the results are printed); `shown` ends it anyway."""
    global _display
    display, _display = _display, None
    if display is not None:
        display.close()

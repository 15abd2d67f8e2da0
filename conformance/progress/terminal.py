"""The displays of a run's progress: live bars on a terminal (rich), a few plain lines elsewhere (CI)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from conformance.progress.phases import Display, close, install

LABELS = {
    "drawing": "drawing the corpus",
    "exchanges": "exchanges",
    "shrinking": "shrinking failures",
    "rendering": "rendering the HTML report",
}
UNITS = {"drawing": "connections drawn", "exchanges": "connections done"}  # what a phase counts
PLAIN_LINES = 10  # at most this many lines a phase without a terminal (plus its first and last)


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass
class _Phase:
    total: int | None
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    shown: int = -1  # the last tenth printed


class PlainLines:
    """Without a terminal: a line when a phase starts, at each tenth of it, and when it ends."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.phases: dict[str, _Phase] = {}
        self._lock = threading.Lock()  # workers' counts arrive from a polling thread

    def begin(self, phase: str, total: int | None) -> None:
        with self._lock:
            if phase in self.phases and total:  # a total that grows (workers report in): no new line
                self.phases[phase].total = total
                return
            self.phases[phase] = _Phase(total)
            self.write(f"{LABELS.get(phase, phase)}…" + (f" 0/{total}" if total else ""))

    def step(self, phase: str, done: int) -> None:
        with self._lock:
            state = self.phases.get(phase)
            if state is None or not state.total:
                return
            state.done = done
            tenth = min(PLAIN_LINES, done * PLAIN_LINES // state.total)
            if tenth <= state.shown or tenth == 0 or done >= state.total:
                return
            state.shown = tenth
            elapsed = max(time.monotonic() - state.started, 1e-6)
            rate = done / elapsed
            eta = _eta((state.total - done) / rate) if rate else "?"
            self.write(
                f"{LABELS.get(phase, phase)}: {done}/{state.total} {UNITS.get(phase, 'done')} "
                f"({100 * done // state.total}%), {rate:.1f}/s, ETA {eta}"
            )

    def end(self, phase: str) -> None:
        with self._lock:
            state = self.phases.pop(phase, None)
            if state is None:
                return
            count = f"{state.done}/{state.total} {UNITS.get(phase, 'done')}" if state.total else "done"
            self.write(f"{LABELS.get(phase, phase)}: {count} in {time.monotonic() - state.started:.1f}s")

    def say(self, line: str) -> None:
        self.write(line)

    def close(self) -> None:
        for phase in list(self.phases):
            self.end(phase)


class LiveBars:
    """On a terminal: one rich live display, a bar a phase, with counts, rate, elapsed time and ETA."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            redirect_stdout=True,  # what the run prints goes above the display
            redirect_stderr=True,
        )
        self.tasks: dict[str, TaskID] = {}
        self.progress.start()

    def begin(self, phase: str, total: int | None) -> None:
        count = f"0/{total}" if total else ""
        if phase in self.tasks:
            self.progress.reset(self.tasks[phase], total=total, completed=0, count=count)
            return
        self.tasks[phase] = self.progress.add_task(LABELS.get(phase, phase), total=total, rate="", count=count)

    def step(self, phase: str, done: int) -> None:
        task = self.tasks.get(phase)
        if task is None:
            return
        state = self.progress.tasks[task]
        if state.total is None:
            return
        speed = state.speed  # rich's estimate over its recent samples
        rate = f"{speed:.1f}/s" if speed else ""
        self.progress.update(task, completed=done, rate=rate, count=f"{done}/{int(state.total)}")

    def end(self, phase: str) -> None:
        task = self.tasks.get(phase)
        if task is None:
            return
        total = self.progress.tasks[task].total
        if total is None:  # a phase of unknown length: full bar, "done"
            self.progress.update(task, total=1, completed=1, count="done")
        self.progress.stop_task(task)  # a counted phase keeps its last count (an interrupted run shows how far)

    def say(self, line: str) -> None:
        self.progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        for phase, task in self.tasks.items():
            if self.progress.tasks[task].total is None:
                self.end(phase)
        self.progress.stop()


@contextlib.contextmanager
def shown(quiet: bool, console: Console | None = None) -> Iterator[Display | None]:
    """Install the display for a run: live bars on a terminal, plain lines elsewhere, none when quiet."""
    if quiet:
        yield None
        return
    console = console or Console(highlight=False)
    display: Display
    if console.is_terminal:
        display = LiveBars(console)
    else:

        def write(line: str) -> None:
            try:
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            except BrokenPipeError:  # `run | head`: the reader left; the run (and its report) go on
                console.quiet = True

        display = PlainLines(write)
    install(display)
    try:
        yield display
    finally:
        close()

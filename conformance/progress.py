"""How far a run is: one live display on a terminal (rich), a few plain lines elsewhere (CI), none with --quiet.

The engine reports phases (`begin`, `step`, `end`: drawing, exchanges, shrinking, rendering) to the
display the CLI installed; with none installed (the pytest plugin, a library call) they cost nothing.
pytest-xdist workers report through small files the controller reads (`from_workers`), so a run spread
over workers shows one display too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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

LABELS = {
    "drawing": "drawing the corpus",
    "exchanges": "exchanges",
    "shrinking": "shrinking failures",
    "rendering": "rendering the HTML report",
}
UNITS = {"drawing": "connections drawn", "exchanges": "connections done"}  # what a phase counts
PLAIN_LINES = 10  # at most this many lines a phase without a terminal (plus its first and last)
WORKERS_ENV = "RC_PROGRESS_DIR"
POLL_S = 0.25


class Display(Protocol):
    def begin(self, phase: str, total: int | None) -> None: ...
    def step(self, phase: str, done: int) -> None: ...
    def end(self, phase: str) -> None: ...
    def say(self, line: str) -> None: ...
    def close(self) -> None: ...


_display: Display | None = None
_lock = threading.Lock()


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

    def begin(self, phase: str, total: int | None) -> None:
        with _lock:
            if phase in self.phases and total:  # a total that grows (workers report in): no new line
                self.phases[phase].total = total
                return
            self.phases[phase] = _Phase(total)
            self.write(f"{LABELS.get(phase, phase)}…" + (f" 0/{total}" if total else ""))

    def step(self, phase: str, done: int) -> None:
        with _lock:
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
        with _lock:
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


def close() -> None:
    """Stop the display now (before the results are printed); `shown` ends it anyway."""
    global _display
    display, _display = _display, None
    if display is not None:
        display.close()


@contextlib.contextmanager
def shown(quiet: bool, console: Console | None = None) -> Iterator[Display | None]:
    """Install the display for a run: live bars on a terminal, plain lines elsewhere, none when quiet."""
    global _display
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
    _display = display
    try:
        yield display
    finally:
        close()


class FileSink:
    """A worker's display: its counts, a small file a phase, which the controller reads."""

    def __init__(self, folder: Path, shard: int) -> None:
        self.folder = folder
        self.shard = shard
        self.totals: dict[str, int] = {}

    def _write(self, phase: str, done: int) -> None:
        path = self.folder / f"shard-{self.shard}-{phase}"
        temporary = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            temporary.write_text(f"{done} {self.totals.get(phase, 0)}", encoding="ascii")
            temporary.replace(path)

    def begin(self, phase: str, total: int | None) -> None:
        if phase in WORKER_PHASES and total:
            self.totals[phase] = total
            self._write(phase, 0)

    def step(self, phase: str, done: int) -> None:
        if phase in self.totals:
            self._write(phase, done)

    def end(self, phase: str) -> None:
        pass

    def say(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass


#: What workers report, and how the controller adds up their counts: every worker draws the whole
#: corpus (the slowest is shown), and runs its share of the connections (they add up).
WORKER_PHASES: dict[str, Callable[[list[int]], int]] = {"drawing": min, "exchanges": sum}


def report_to_controller(shard: int) -> None:
    """In a pytest-xdist worker: send this process's counts to the controller, if it listens."""
    global _display
    folder = os.environ.get(WORKERS_ENV)
    if folder and Path(folder).is_dir():
        _display = FileSink(Path(folder), shard)


def _read(folder: Path, phase: str) -> tuple[int, int]:
    """The workers' counts of a phase, added up as WORKER_PHASES says: (done, total)."""
    dones, totals = [], []
    for path in folder.glob(f"shard-*-{phase}"):
        with contextlib.suppress(OSError, ValueError):
            done, total = path.read_text(encoding="ascii").split()
            dones.append(int(done))
            totals.append(int(total))
    if not totals:
        return 0, 0
    add = WORKER_PHASES[phase]
    return add(dones), add(totals)


@contextlib.contextmanager
def from_workers() -> Iterator[None]:
    """While workers run: their counts are the display's drawing and exchanges phases."""
    if _display is None:
        yield
        return
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="rc-progress-") as name:
        folder = Path(name)
        previous = os.environ.get(WORKERS_ENV)
        os.environ[WORKERS_ENV] = name  # the workers (spawned now) inherit it
        known: dict[str, int] = {}

        def update() -> None:
            for phase in WORKER_PHASES:
                done, total = _read(folder, phase)
                if total and total != known.get(phase):
                    known[phase] = total
                    begin(phase, total)
                if total:
                    step(phase, done)
                    if phase == "exchanges" and "drawing" in known:
                        end("drawing")  # connections are running: the corpus is drawn

        def poll() -> None:
            while not stop.wait(POLL_S):
                update()

        poller = threading.Thread(target=poll, name="rc-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join(timeout=2)
            update()
            for phase in known:
                end(phase)
            if previous is None:
                os.environ.pop(WORKERS_ENV, None)
            else:
                os.environ[WORKERS_ENV] = previous

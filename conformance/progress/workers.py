"""Progress across pytest-xdist workers: each writes its counts into small files the controller polls,
so a run spread over workers shows one display too."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from conformance.progress.phases import begin, current, end, install, step

WORKERS_ENV = "RC_PROGRESS_DIR"
POLL_S = 0.25


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
    folder = os.environ.get(WORKERS_ENV)
    if folder and Path(folder).is_dir():
        install(FileSink(Path(folder), shard))


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
    if current() is None:
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

"""A run writes its report beside the previous one and swaps it in only once it is complete.

So a run killed part way (SIGKILL, a CI runner reclaimed, a second Ctrl-C) leaves the previous
report as it was, never an empty or half-written one. The new report is staged in a hidden folder
next to the report dir (inside it when its parent is not writable), on the same file system, so
each output is swapped in by a rename, summary.json last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

#: What a run writes into its report dir; everything else there (history.jsonl, the user's files) stays.
OUTPUT_DIRS = ("allure-results", "allure-report", "transcripts", "certificate")
OUTPUT_FILES = (
    "allure-report.html",
    "junit.xml",
    "summary.md",
    "badge.svg",
    "certificate.tar.gz",
    "summary.json",  # last: a summary always comes with the outputs it names
)
OUTPUTS = (*OUTPUT_DIRS, *OUTPUT_FILES)
CARRIED = ("history.jsonl",)  # kept across runs: the new report appends to the previous one's
OWNER = ".owner"  # the pid of the run writing a stage, so a later run can tell an orphan from a live one


class Staging:
    """`open()` a stage, write the report into it, `swap()` it in; `close()` removes what is left of it."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self.work = report_dir

    def open(self) -> Path:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        resolved = self.report_dir.resolve()
        prefix = f".{resolved.name or 'report'}.new-"
        for parent, stale in ((resolved.parent, prefix), (resolved, ".new-")):
            remove_orphans(parent, stale)
        try:
            self.work = Path(tempfile.mkdtemp(prefix=prefix, dir=resolved.parent))
        except OSError:
            self.work = Path(tempfile.mkdtemp(prefix=".new-", dir=resolved))
        (self.work / OWNER).write_text(str(os.getpid()), encoding="ascii")
        for name in CARRIED:
            if (resolved / name).is_file():
                shutil.copyfile(resolved / name, self.work / name)
        return self.work

    def swap(self) -> None:
        """Put every output of the staged report in place of the previous run's, one rename each."""
        trash = Path(tempfile.mkdtemp(prefix=".previous-", dir=self.work))
        for name in (*OUTPUTS, *CARRIED):
            old, new = self.report_dir / name, self.work / name
            # an output this run did not write is stale: it goes too
            if (new.exists() or name in OUTPUTS) and (old.exists() or old.is_symlink()):
                old.rename(trash / name)
            if new.exists():
                new.rename(old)

    def close(self) -> None:
        if self.work != self.report_dir:
            shutil.rmtree(self.work, ignore_errors=True)


def remove_orphans(parent: Path, prefix: str) -> None:
    """Remove the stages of runs that died without cleaning up (SIGKILL, power loss): those whose
    writing process is gone. A stage of a live run (another run into the same dir) is left alone."""
    with contextlib.suppress(OSError):
        for stage in parent.glob(f"{prefix}*"):
            if stage.is_dir() and not stage.is_symlink() and not _alive(stage / OWNER):
                shutil.rmtree(stage, ignore_errors=True)


def _alive(owner: Path) -> bool:
    try:
        pid = int(owner.read_text(encoding="ascii"))
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return owner.exists()  # unreadable or not ours to signal: keep it; no marker at all: an orphan
    return True

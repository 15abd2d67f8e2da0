"""A run writes its report beside the previous one and swaps it in only once it is complete.

So a run killed part way (SIGKILL, a CI runner reclaimed, a second Ctrl-C) leaves the previous
report as it was, never an empty or half-written one. The new report is staged in a hidden folder
next to the report dir (inside it when its parent is not writable), on the same file system, so
each output is swapped in by a rename, summary.json last.
"""

from __future__ import annotations

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


class Staging:
    """`open()` a stage, write the report into it, `swap()` it in; `close()` removes what is left of it."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir
        self.work = report_dir

    def open(self) -> Path:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        resolved = self.report_dir.resolve()
        prefix = f".{resolved.name or 'report'}.new-"
        try:
            self.work = Path(tempfile.mkdtemp(prefix=prefix, dir=resolved.parent))
        except OSError:
            self.work = Path(tempfile.mkdtemp(prefix=".new-", dir=resolved))
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

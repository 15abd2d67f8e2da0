"""Progress as the user sees it: one live display on a terminal, a few plain lines in CI, none when quiet."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from conformance import progress
from conformance.cli.main import main
from conformance.progress import PLAIN_LINES, PlainLines


def phase_lines(out: str, label: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(label)]


def test_without_a_terminal_a_long_phase_prints_a_few_lines_with_rate_and_eta() -> None:
    lines: list[str] = []
    display = PlainLines(lines.append)
    total = 2028  # the run: it printed a line every ten connections
    display.begin("exchanges", total)
    for done in range(1, total + 1):
        display.step("exchanges", done)
    display.end("exchanges")
    assert 3 <= len(lines) <= PLAIN_LINES + 1
    assert all(re.search(r"\d+\.\d/s, ETA \d+:\d\d$", line) for line in lines[1:-1])
    assert lines[-1].startswith(f"exchanges: {total}/{total} connections done in ")


def test_on_a_terminal_one_live_display_shows_counts_rate_and_eta() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=140, color_system=None)
    with progress.shown(False, console) as display:
        assert display is not None
        progress.begin("exchanges", 50)
        for done in range(1, 51):
            progress.step("exchanges", done)
        display.say("a line printed during the run")
        progress.end("exchanges")
        progress.begin("rendering")
    out = buffer.getvalue()
    assert "\x1b[" in out  # redrawn in place (cursor control), not a line per step
    last = out.rsplit("\r", 1)[-1]
    assert "exchanges" in out and "50/50" in out and "ETA" in out
    assert "rendering the HTML report" in last
    assert "a line printed during the run" in out
    assert progress.current() is None  # and gone after the run


def test_quiet_shows_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.shown(True) as display:
        assert display is None
        progress.begin("exchanges", 10)
        progress.step("exchanges", 10)
        progress.end("exchanges")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("workers", ["1", "2"], ids=["serial", "workers"])
def test_a_run_without_a_terminal_prints_a_few_progress_lines_per_phase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    """Workers report into the same display: their connections add up to the run's."""
    args = ["run", "--report-dir", str(tmp_path), "--profile", "full", "--connections", "30", "--seed", "2"]
    args += ["--timeout", "0.5", "--no-html", "--shrink-budget-s", "0", "--workers", workers]
    assert main(args) == 0
    out = capsys.readouterr().out
    exchanges = phase_lines(out, "exchanges")
    assert 2 <= len(exchanges) <= PLAIN_LINES + 1, exchanges
    all_jsonl = (tmp_path / "transcripts" / "all.jsonl").read_text(encoding="utf-8")
    connections = sum(1 for line in all_jsonl.splitlines() if line.startswith('{"transcript"'))
    assert exchanges[-1].startswith(f"exchanges: {connections}/{connections} connections done in ")
    assert len(phase_lines(out, "drawing the corpus")) <= PLAIN_LINES + 2
    assert main([*args, "--quiet"]) == 0
    assert "connections done" not in capsys.readouterr().out

"""Judging: one transcript through the frame and event checks and every registered check."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

# The check modules register their checks on import.
from conformance.checks import answers, configuration  # noqa: F401
from conformance.checks.findings import Judgement
from conformance.checks.pairing import parse_connection
from conformance.checks.registry import Check, run_checks
from conformance.collector import paused
from conformance.contract import Contract
from conformance.transcript import Transcript


def judge(
    transcript: Transcript,
    contract: Contract,
    checks: Iterable[Check] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> Judgement:
    """Judge one connection's transcript against every event and exchange requirement (`checks`:
    other than the registered ones, as a test of a new check does). Raises `JudgingStopped` once
    `stopped()`, asked between frames."""
    with paused():  # what judging allocates forms no cycles, and each collection would rescan the transcript
        try:
            conn, parsed = parse_connection(transcript, contract, stopped)
            judged = run_checks(conn, checks)
        finally:
            for frame in transcript.frames:
                frame.forget()  # what was kept for judging (some of it judged ahead: checks.ahead)
        exercised = parsed.exercised + judged.exercised
        violations = tuple(replace(v, connection=transcript.label) for v in parsed.violations + judged.violations)
        return Judgement(violations, exercised, len(conn.steps), judged.not_applicable, conn.unpaired)


def judge_all(transcripts: Iterable[Transcript], contract: Contract) -> Judgement:
    """Judge every connection of a run; a violation another one explains is reported under that one."""
    return Judgement.combined(judge(t, contract) for t in transcripts).explained()

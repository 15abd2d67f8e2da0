"""Judging: one transcript through the frame and event checks and every registered check."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator
from dataclasses import replace

# The check modules register their checks on import.
from conformance.checks import answers, configuration  # noqa: F401
from conformance.checks.findings import Judgement
from conformance.checks.pairing import parse_connection
from conformance.checks.registry import Check, run_checks
from conformance.contract import Contract
from conformance.transcript import Transcript


def judge(transcript: Transcript, contract: Contract, checks: Iterable[Check] | None = None) -> Judgement:
    """Judge one connection's transcript against every event and exchange requirement (`checks`:
    other than the registered ones, as a test of a new check does)."""
    with _collections_paused():
        conn, parsed = parse_connection(transcript, contract)
        judged = run_checks(conn, checks)
        exercised = parsed.exercised + judged.exercised
        violations = tuple(replace(v, connection=transcript.label) for v in parsed.violations + judged.violations)
        return Judgement(violations, exercised, len(conn.steps), judged.not_applicable, conn.unpaired)


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """No cyclic garbage collection while one connection is judged: what judging allocates forms no
    cycles (reference counting frees it), and each collection it would trigger rescans the whole
    transcript and its parsed frames (on a long connection, most of judging's time). The state is
    restored after, so a process that turned collection off keeps it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def judge_all(transcripts: Iterable[Transcript], contract: Contract) -> Judgement:
    """Judge every connection of a run; a violation another one explains is reported under that one."""
    return Judgement.combined(judge(t, contract) for t in transcripts).explained()

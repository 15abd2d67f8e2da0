"""What a run produced, built once when it is judged: the value the reports, the CLI and the plugin read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from conformance.checks import Judgement
from conformance.run.log import RunRecord
from conformance.run.settings import Settings
from conformance.run.shrink import Shrunk
from conformance.verdict import Policy, nothing_judged, shortfall
from conformance.verdict.baseline import BaselineReport
from conformance.verdict.results import RequirementResult, Verdict
from conformance.wire.transport import ConnectFailed


@dataclass(frozen=True)
class Outcome:
    """What a run produced: kept whole even when the target failed part way."""

    settings: Settings
    seed: int
    url: str
    started_at: str
    duration_s: float
    record: RunRecord  # what the connections came to
    judgement: Judgement
    results: tuple[RequirementResult, ...]
    verdict: Verdict
    policy: Policy  # what turned the results into the verdict
    shrunk: tuple[Shrunk, ...] = ()
    baseline: BaselineReport | None = None
    interrupted: bool = False
    internal_error: str | None = None  # a bug of ours stopped part of the run: its traceback (exit 4)
    #: Where the run's transcripts were written as they completed (all.jsonl, one file per failing connection).
    transcripts_dir: Path | None = None
    #: label -> file name in `transcripts_dir`, for each connection whose violations are kept as evidence.
    files: Mapping[str, str] = field(default_factory=dict)
    #: A replay's: the name (no folders) of the file whose recorded client frames it sent again.
    replayed: str | None = None

    @property
    def incomplete(self) -> str | None:
        """Why the target could not be fully tested, if it could not (never then conformant)."""
        return incompleteness(self.record, self.judgement, self.interrupted, self.internal_error)

    @property
    def not_fully_tested(self) -> str | None:
        """Why the verdict is not the target's (one line): the run was incomplete, or a certified run's
        evidence too thin (`verdict.shortfall`); None when the verdict rests on a full test."""
        if self.incomplete is not None or self.verdict != "error":
            return self.incomplete  # a failure of the target's own stands, however thin the rest
        return shortfall(self.results, self.policy.min_exercised)

    @property
    def failure(self) -> ConnectFailed | None:
        return self.record.failure


def incompleteness(log: RunRecord, judgement: Judgement, interrupted: bool, internal_error: str | None) -> str | None:
    """Why a run could not test its target fully, or None: the verdict is then never conformant."""
    reason = _unfinished(log, judgement, interrupted, internal_error)
    if reason is not None and log.unjudged_connections:
        unjudged = log.unjudged_connections
        return (
            f"{reason}; {unjudged} connection(s) that ran are written to all.jsonl, not judged (`validate` judges them)"
        )
    return reason


def _unfinished(log: RunRecord, judgement: Judgement, interrupted: bool, internal_error: str | None) -> str | None:
    if log.failure is not None:
        return log.failure.message
    if internal_error is not None:
        return "an internal error of realtime-conformance stopped part of the run"
    if interrupted:
        return "interrupted (Ctrl-C or SIGTERM) before the run finished"
    if log.cut:
        cut = log.cut[0]
        return f"{len(log.cut)} connection(s) cut at a bound: {cut.connection}: {cut.reason}"
    if log.aborted:
        return f"{len(log.aborted)} connection(s) ended by the transport: {log.aborted[0]}"
    if log.stopped:
        return log.stopped
    return nothing_judged(judgement)

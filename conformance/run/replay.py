"""A replay: the client frames of recorded connections sent again to a target, judged as a run judges them.

It is a run whose plans are the recorded connections (no drawing, no shrinking): its `Outcome` is
reported exactly as a run's is, into a report dir of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from conformance.run.engine import Outcome, finish
from conformance.run.runner import Plan
from conformance.run.settings import Settings
from conformance.run.shard import fresh_directory, run_shard
from conformance.transcript import Transcript

#: A replay draws nothing: its seed in the report says so.
REPLAY_SEED = 0


def replay_plans(transcripts: Sequence[Transcript]) -> list[Plan]:
    """One plan per recorded connection that sent something: its client text frames (an empty one
    too: it may be what failed), in order, to be sent byte for byte as recorded (`literal`), with the
    recorded waits: where the client let the whole timeout pass before its next frame (so that one was
    awaited alone, and judged so), the replay waits its own timeout out too."""
    plans = []
    for index, t in enumerate(transcripts, start=1):
        sent = [f for f in t.frames if f.direction == "client" and f.text is not None]
        waits = frozenset(i for i in range(len(sent) - 1) if sent[i + 1].time - sent[i].time >= t.timeout_s)
        plans.append(Plan(t.label or f"replay-{index}", tuple(f.text or "" for f in sent), waits, literal=True))
    return [plan for plan in plans if plan.updates]


def replay(
    settings: Settings,
    plans: Sequence[Plan],
    directory: Path,
    progress: Callable[[str], None] = lambda _: None,
    source: Path | None = None,
) -> Outcome:
    """Send each plan's frames on a connection of its own and judge the answers; transcripts go to `directory`.
    The outcome names `source`, the file replayed, by its name only (its folders may say who ran it where)."""
    settings = replace(settings, shrink_budget_s=0.0, seed=REPLAY_SEED)  # the recorded frames are the case
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    shard = run_shard(settings, REPLAY_SEED, progress=progress, directory=fresh_directory(directory), plans=plans)
    outcome = finish(settings, REPLAY_SEED, [shard], started_at, started, progress, shard.directory)
    return replace(outcome, replayed=source.name or None) if source is not None else outcome

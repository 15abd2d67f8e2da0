"""One conformance run: plan the exchanges for a profile, run them against the target, judge.

This is the part `realtime-conformance run` and `pytest --target` share. The target is a URL;
`mock` only means the engine starts the reference mock first and uses its URL like any other.
Its parts: `settings`, `target` (TLS, the mock's lifecycle), `shard` (plans run and judged as they
end), `merge` (shards as one run), `shrink`, and the `outcome` built here once the run is judged.
"""

from __future__ import annotations

import random
import shutil
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from conformance.contract import load_contract
from conformance.run.merge import gather, merge

# A run's input and its output are imported with it (`from conformance.run.engine import Outcome, Settings, run`).
from conformance.run.outcome import Outcome as Outcome
from conformance.run.outcome import incompleteness
from conformance.run.recorder import connection_file
from conformance.run.settings import Settings as Settings
from conformance.run.settings import policy_of
from conformance.run.shard import Shard, fresh_directory, run_shard
from conformance.run.shrink import Shrunk, shrink_failures
from conformance.verdict import decide


def finish(
    settings: Settings,
    seed: int,
    shards: Sequence[Shard],
    started_at: str,
    started: float,
    progress: Callable[[str], None] = lambda _: None,
    directory: Path | None = None,
) -> Outcome:
    """Gather what the shards judged and wrote (into `directory`), shrink failures, and reach the verdict."""
    log = merge(shards)
    tally, transcripts_dir = gather(settings, shards, directory)
    interrupted = any(s.interrupted for s in shards)
    internal_error = "\n".join(s.error for s in shards if s.error) or None
    judgement = replace(tally.judgement(), exchanges=log.exchanges)
    if judgement.unpaired:
        progress(
            f"{judgement.unpaired} exchange(s) could not be paired with their answers for certain "
            "(an extra or late answer in reach): the checks that pair did not judge them"
        )
    if log.throttled:
        progress(
            f"the target throttled {log.throttled} update(s) with a rate-limit error; "
            f"backed off {log.throttled_s:.1f}s in all and sent them again"
        )
    shrunk: tuple[Shrunk, ...] = ()
    cut_short = interrupted or internal_error is not None or bool(log.cut)
    if settings.profile != "smoke" and settings.shrink_budget_s > 0 and not cut_short and judgement.violations:
        deadline = time.monotonic() + settings.shrink_budget_s
        if settings.politeness.budget_s is not None:  # the run's time budget bounds shrinking too
            deadline = min(deadline, started + settings.politeness.budget_s)
        shrunk, stopped = shrink_failures(settings, seed, judgement, tally, deadline, progress)
        interrupted = interrupted or stopped
    policy = policy_of(settings, date.today())
    incomplete = incompleteness(log, judgement, interrupted, internal_error)
    contract = load_contract(settings.model_names or None, settings.dialect)
    decision = decide(contract, judgement, policy, incomplete, tally.omitted())
    return Outcome(
        settings,
        seed,
        shards[0].url if shards else settings.target,
        started_at,
        duration_s=round(time.monotonic() - started, 3),
        record=log,
        judgement=judgement,
        results=tuple(decision.results),
        verdict=decision.verdict,
        policy=policy,
        shrunk=shrunk,
        baseline=decision.baseline,
        interrupted=interrupted,
        internal_error=internal_error,
        transcripts_dir=transcripts_dir,
        files={label: connection_file(i, label) for label, i in tally.evidence_index().items()},
    )


def new_seed(settings: Settings) -> int:
    return settings.seed if settings.seed is not None else random.SystemRandom().randrange(1, 2**31)


def run(
    settings: Settings, progress: Callable[[str], None] = lambda line: None, directory: Path | None = None
) -> Outcome:
    """Run the profile against the target and judge it; never raises for a target's misbehaviour.

    The transcripts are written into `directory` as the connections end (a temporary directory,
    removed with the outcome, when None).
    """
    seed = new_seed(settings)
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    owned = directory is None
    shard = run_shard(settings, seed, 0, 1, progress, fresh_directory(directory))
    outcome = finish(settings, seed, [shard], started_at, started, progress, shard.directory)
    if owned and outcome.transcripts_dir is not None:
        weakref.finalize(outcome, shutil.rmtree, outcome.transcripts_dir, True)
    return outcome

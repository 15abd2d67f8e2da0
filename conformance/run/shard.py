"""One share of a run: its plans drawn, run against the target, each connection judged and written as it ends.

A serial run is one shard; a pytest-xdist worker runs every n-th plan (`distribute`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance import progress as shown
from conformance import signals
from conformance.contract import load_contract
from conformance.generate import scripted_plans
from conformance.generate.corpus import Plans, generated_plans
from conformance.redact import public_url, redactor
from conformance.run.recorder import ALL, Recorder
from conformance.run.runner import Plan, RunLog, run_plans
from conformance.run.settings import Settings
from conformance.run.target import target_for, target_url
from conformance.transcript import Transcript
from conformance.verdict.tally import Tally
from conformance.wire.arrival import new_loop

#: Characters of connections finished but not yet judged and written beyond which a finishing one waits.
RECORDER_BACKLOG = 4 << 20
#: How long past the time budget the connections that ended within it may still be judged: the recorder keeps
#: pace with a conforming target (its last connections take milliseconds), and a hostile target's are
#: written unjudged from then on (each can take seconds to judge), so the run ends about on time.
JUDGING_GRACE_S = 1.0


@dataclass(frozen=True)
class Shard:
    """What one share of a run's plans produced (the whole run, when there is one shard)."""

    url: str
    log: RunLog
    interrupted: bool = False
    planned: tuple[str, ...] = ()  # the labels of its plans, in plan order
    error: str | None = None  # the traceback of a bug of ours that stopped it; what ran is kept
    tally: Tally = field(default_factory=Tally)  # its connections, judged as each ended
    directory: Path | None = None  # where it wrote them: `all_name`, and one file per failing connection
    all_name: str = ALL


def plans_for(settings: Settings, seed: int) -> Plans:
    """Smoke: the scripted connections; full and certify add Schemathesis' coverage cases and drawn ones.

    Read from the corpus file as they are iterated (never all held: memory stays flat in run size).
    """
    scripted = tuple(scripted_plans(settings.dialect))
    if settings.profile == "smoke":
        return Plans((scripted,))
    return Plans((scripted, generated_plans(seed, settings.connections, settings.dialect, settings.model_names)))


def fresh_directory(directory: Path | None) -> Path:
    """Where a run writes its transcripts: `directory` emptied of a previous run's, or a new temporary one."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="rc-transcripts-"))
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.jsonl"), *directory.glob(".*.spool")]:
        old.unlink()
    return directory


def run_shard(
    settings: Settings,
    seed: int,
    shard: int = 0,
    shards: int = 1,
    progress: Callable[[str], None] = lambda _: None,
    directory: Path | None = None,
    plans: Sequence[Plan] | None = None,
) -> Shard:
    """Run every `shards`-th plan starting at `shard` (a pytest-xdist worker's share, or all of them);
    `plans` given (a replay) are run instead of the profile's.

    Each connection is judged and written to `directory` (a new temporary one if None) as it ends.
    """
    url = public_url(settings.target, settings.auth.secrets)
    directory = directory if directory is not None else fresh_directory(None)
    all_name = ALL if shards == 1 else f"shard-{shard}.jsonl"
    try:
        with signals.armed():
            shown.begin("drawing")
            chosen = plans if plans is not None else plans_for(settings, seed).every(shard, shards)
            shown.end("drawing")
    except KeyboardInterrupt:  # Ctrl-C while the corpus is drawn: nothing ran, and that is reported
        return Shard(url, RunLog(), interrupted=True, directory=directory, all_name=all_name)
    planned, updates = _labels(chosen)
    contract = load_contract(settings.model_names or None, settings.dialect)
    secrets = redactor(settings.auth.secrets)  # the recorder numbers plans by shard: no label map held
    recorder = Recorder(directory, contract, {}, secrets, all_name, (shard, shards))
    log = RunLog(sink=recorder.take)
    progress(f"{len(planned)} connections, {updates} updates planned")
    url, interrupted, error = _exchange(settings, chosen, len(planned), log, recorder, url)
    return Shard(url, log, interrupted, planned, error, recorder.tally, directory, all_name)


def _labels(plans: Iterable[Plan]) -> tuple[tuple[str, ...], int]:
    """The plans' labels and how many updates they hold: one pass; they are read again as they are run."""
    labels: list[str] = []
    updates = 0
    for plan in plans:
        labels.append(plan.label)
        updates += len(plan.updates)
    return tuple(labels), updates


def _exchange(
    settings: Settings, plans: Iterable[Plan], count: int, log: RunLog, recorder: Recorder, url: str
) -> tuple[str, bool, str | None]:
    """Run the plans into `log` (the recorder judges and writes each connection as it ends).

    Returns the URL tested (the mock's, once started), whether Ctrl-C stopped it, and the traceback of a
    bug of ours that did (what ran is kept, and reported with exit 4).
    """
    shown.begin("exchanges", count)
    done = 0
    budget_s = settings.politeness.budget_s
    deadline = time.monotonic() + budget_s + JUDGING_GRACE_S if budget_s else None

    def spent() -> bool:  # the time budget bounds judging too: what is left then is written, not judged
        return deadline is not None and time.monotonic() >= deadline

    async def on_done(transcript: Transcript) -> None:
        nonlocal done
        done += 1
        shown.step("exchanges", done)
        for _ in range(100_000):  # the recorder behind: this slot waits (not the loop), so memory stays bounded
            if recorder.backlog <= RECORDER_BACKLOG or spent():  # once spent, the recorder judges no more
                break
            await asyncio.sleep(0.005)

    async def main() -> None:
        nonlocal url
        if deadline is not None:  # judging stops then: a hostile target's frames can take long to judge
            asyncio.get_running_loop().call_later(deadline - time.monotonic(), recorder.stop)
        async with target_url(settings) as tested:
            if settings.kind == "mock":
                url = tested
            await run_plans(plans, target_for(settings, tested), settings.concurrency, on_done, log)

    interrupted, error = False, None
    try:
        signals.run_armed(main, new_loop)
    except KeyboardInterrupt:
        interrupted = True
    except Exception:  # a bug of ours: what ran is kept (run_plans saw to it)
        error = traceback.format_exc()
    finally:
        closing = recorder.close(stopped=lambda: bool(signals.received) or spent())
        log.sink = None
        log.unjudged_connections = recorder.unjudged
    if recorder.unjudged and signals.received:
        interrupted = True
    elif recorder.unjudged:
        log.stopped = log.stopped or f"the time budget ({budget_s:g}s) was spent judging"
    if closing is not None:
        error = "\n".join(e for e in (error, closing) if e)
    shown.end("exchanges")
    return url, interrupted, error

"""One conformance run: plan the exchanges for a profile, run them against the target, judge.

This is the part `realtime-conformance run` and `pytest --target` share. The target is a URL;
`mock` only means the engine starts the reference mock first and uses its URL like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import ssl
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from hypothesis.errors import HypothesisException

from conformance import progress as shown
from conformance import signals
from conformance.checks import Judgement, judge
from conformance.contract import DEFAULT_DIALECT, Contract, load_contract
from conformance.generate import scripted_plans
from conformance.generate.corpus import Plans, generated_plans, run_hypothesis
from conformance.mock import MockConfig, serve_mock
from conformance.redact import redactor
from conformance.run.recorder import ALL, Recorder, connection_file, merge_in_order
from conformance.run.runner import MAX_RUN_BYTES, Plan, Politeness, RunLog, Target, run_connection, run_plans
from conformance.transcript import Transcript
from conformance.verdict import Policy, decide
from conformance.verdict.baseline import BaselineReport, Expected
from conformance.verdict.results import RequirementResult, Verdict
from conformance.verdict.tally import Tally
from conformance.wire.transport import Auth, ConnectFailed, Limits, public_url

Profile = Literal["smoke", "full", "certify"]
PROFILES: tuple[Profile, ...] = ("smoke", "full", "certify")


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on; what the CLI and the pytest options both fill in."""

    target: str = "mock"
    profile: Profile = "smoke"
    seed: int | None = None
    timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    models: tuple[str, ...] = ()
    model_names: tuple[str, ...] = ()
    dialect: str = DEFAULT_DIALECT  # whose contract judges the run (spec/ or its overlay spec/<dialect>/)
    auth: Auth = field(default_factory=Auth)
    strict: bool = False
    connections: int = 40  # generated connections in the full and certify profiles
    concurrency: int = 1
    min_exercised: int = 3  # certify: every MUST exercised at least this often
    shrink_budget_s: float = 10.0
    settle_s: float = 0.1
    baseline: tuple[Expected, ...] | None = None
    baseline_file: str = ""
    strict_baseline: bool = False
    selected: tuple[str, ...] | None = None  # report only these requirements (--rerun-failed)
    ca_file: str | None = None
    insecure: bool = False
    max_frame_bytes: int = 1 << 20
    max_connection_bytes: int = Limits.max_connection_bytes
    max_run_bytes: int = MAX_RUN_BYTES
    politeness: Politeness = field(default_factory=Politeness)
    # Where `auth` came from (API key variable, IAM token variable, --header specs): no secrets,
    # so it can be handed to workers, which read the environment themselves.
    auth_spec: tuple[str | None, str | None, tuple[str, ...]] = (None, None, ())

    @property
    def kind(self) -> Literal["mock", "live"]:
        return "mock" if self.target == "mock" else "live"


@dataclass
class Shrunk:
    requirement: str
    updates: tuple[str, ...]
    transcript: Transcript


@dataclass
class Outcome:
    """What a run produced: kept whole even when the target failed part way."""

    settings: Settings
    seed: int
    url: str
    started_at: str
    duration_s: float = 0.0
    log: RunLog = field(default_factory=RunLog)
    judgement: Judgement = field(default_factory=Judgement)
    results: list[RequirementResult] = field(default_factory=list)
    verdict: Verdict = "error"
    policy: Policy = field(default_factory=Policy)  # what turned the results into the verdict
    shrunk: list[Shrunk] = field(default_factory=list)
    baseline: BaselineReport | None = None
    interrupted: bool = False
    internal_error: str | None = None  # a bug of ours stopped part of the run: its traceback (exit 4)
    #: The run judged connection by connection (bounded); `judgement` is what it gives.
    tally: Tally = field(default_factory=Tally)
    #: Where the run's transcripts were written as they completed (all.jsonl, one file per failing connection).
    transcripts_dir: Path | None = None
    #: label -> file name in `transcripts_dir`, for each connection whose violations are kept as evidence.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def incomplete(self) -> str | None:
        """Why the target could not be fully tested, if it could not (never then conformant)."""
        if self.failure is not None:
            return self.failure.message
        if self.internal_error is not None:
            return "an internal error of realtime-conformance stopped part of the run"
        if self.interrupted:
            return "interrupted (Ctrl-C or SIGTERM) before the run finished"
        if self.log.cut:
            cut = self.log.cut[0]
            return f"{len(self.log.cut)} connection(s) cut at a byte bound: {cut.connection}: {cut.reason}"
        if self.log.aborted:
            return f"{len(self.log.aborted)} connection(s) ended by the transport: {self.log.aborted[0]}"
        if self.log.stopped:
            return self.log.stopped
        if not self.judgement.exchanges:
            return "no update could be sent to the target"
        return None

    @property
    def failure(self) -> ConnectFailed | None:
        return self.log.failure


def plans_for(settings: Settings, seed: int) -> Plans:
    """Smoke: the scripted connections; full and certify add Schemathesis' coverage cases and drawn ones.

    Read from the corpus file as they are iterated (never all held: memory stays flat in run size).
    """
    scripted = tuple(scripted_plans(settings.dialect))
    if settings.profile == "smoke":
        return Plans((scripted,))
    return Plans((scripted, generated_plans(seed, settings.connections)))


def policy_of(settings: Settings, today: date) -> Policy:
    """The run's verdict policy: written into summary.json, applied again by verify and validate."""
    return Policy.resolve(
        strict=settings.strict,
        certification=settings.profile == "certify",
        min_exercised=settings.min_exercised,
        selected=settings.selected,
        baseline=settings.baseline,
        baseline_file=settings.baseline_file,
        strict_baseline=settings.strict_baseline,
        today=today,
    )


def _size(updates: tuple[str, ...]) -> int:
    """Smaller is fewer updates first, then fewer characters."""
    return len(updates) * 10_000 + sum(len(u) for u in updates)


async def _shrink(settings: Settings, target: Target, outcome: Outcome, deadline: float) -> None:
    """Shrink one failing generated exchange per failed requirement with Hypothesis, within a deadline.

    Hypothesis replays the seed's draws; the draw that failed is run again and, when it fails the
    same way, shrunk. Every candidate is a real exchange against the target, so the minimal
    exchange kept is one that really failed. Draws that did not fail are not re-sent.
    """
    contract = load_contract(settings.model_names or None, settings.dialect)
    generated = generated_plans(outcome.seed, settings.connections)
    loop = asyncio.get_running_loop()
    for requirement in sorted({v.requirement for v in outcome.judgement.violations}):
        failing = outcome.tally.failing_labels(requirement)  # the first of them, in plan order
        failed_before = {plan.updates for plan in generated if plan.label in failing}
        if not failed_before or time.monotonic() >= deadline:
            continue
        alone = await _failing_alone(min(failed_before, key=_size), requirement, target, contract, deadline)
        if alone is not None:  # one update is the smallest exchange there is
            outcome.shrunk.append(Shrunk(requirement, *alone))
            continue
        best: list[tuple[tuple[str, ...], Transcript]] = []

        def body(
            updates: tuple[str, ...],
            requirement: str = requirement,
            failed_before: set[tuple[str, ...]] = failed_before,
            best: list[tuple[tuple[str, ...], Transcript]] = best,
        ) -> None:
            if time.monotonic() >= deadline or (not best and updates not in failed_before):
                return
            future = asyncio.run_coroutine_threadsafe(run_connection(Plan("shrunk", updates), target), loop)
            transcript = future.result()
            if not isinstance(transcript, Transcript):
                return
            if any(v.requirement == requirement for v in judge(transcript, contract).violations):
                if not best or _size(updates) <= _size(best[0][0]):
                    best[:] = [(updates, transcript)]
                raise AssertionError(requirement)

        with contextlib.suppress(AssertionError, HypothesisException, ExceptionGroup):
            await asyncio.to_thread(run_hypothesis, outcome.seed, settings.connections, body, True)
        if not best:
            continue
        updates, transcript = best[0]
        alone = await _failing_alone(updates, requirement, target, contract, deadline)
        outcome.shrunk.append(Shrunk(requirement, *(alone or (updates, transcript))))


async def _failing_alone(
    updates: tuple[str, ...], requirement: str, target: Target, contract: Contract, deadline: float
) -> tuple[tuple[str, ...], Transcript] | None:
    """The first of `updates` that, sent alone on a connection of its own, fails `requirement` again."""
    for text in updates:
        if time.monotonic() >= deadline:
            return None
        alone = await run_connection(Plan("shrunk", (text,)), target)
        if not isinstance(alone, Transcript):
            continue
        if any(v.requirement == requirement for v in judge(alone, contract).violations):
            return (text,), alone
    return None


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS for wss://: the system's trust store, plus --ca-file; --insecure verifies nothing."""
    if settings.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.ca_file:
        return ssl.create_default_context(cafile=settings.ca_file)
    return None


def target_for(settings: Settings, url: str) -> Target:
    limits = Limits(
        connect_s=settings.connect_timeout_s,
        answer_s=settings.timeout_s,
        max_frame_bytes=settings.max_frame_bytes,
        max_connection_bytes=settings.max_connection_bytes,
    )
    return Target(
        url,
        settings.auth,
        limits,
        settings.models,
        settings.settle_s,
        ssl_context(settings),
        settings.politeness,
        settings.max_run_bytes,
        contract=load_contract(settings.model_names or None, settings.dialect),
    )


@contextlib.asynccontextmanager
async def target_url(settings: Settings) -> AsyncIterator[str]:
    """The URL to test: the target as given, or a freshly started reference mock's."""
    if settings.kind == "mock":
        async with serve_mock(MockConfig(models=settings.models, dialect=settings.dialect)) as url:
            yield url
    else:
        yield settings.target


@dataclass
class Shard:
    """What one share of a run's plans produced (the whole run, when there is one shard)."""

    url: str
    log: RunLog
    interrupted: bool = False
    planned: list[str] = field(default_factory=list)  # the labels of its plans, in plan order
    error: str | None = None  # the traceback of a bug of ours that stopped it; what ran is kept
    tally: Tally = field(default_factory=Tally)  # its connections, judged as each ended
    directory: Path | None = None  # where it wrote them: `all_name`, and one file per failing connection
    all_name: str = ALL


#: Characters of connections finished but not yet judged and written beyond which a finishing one waits.
RECORDER_BACKLOG = 4 << 20


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
    result = Shard(public_url(settings.target, settings.auth.secrets), RunLog())
    result.directory = directory if directory is not None else fresh_directory(None)
    result.all_name = ALL if shards == 1 else f"shard-{shard}.jsonl"
    try:
        with signals.armed():
            shown.begin("drawing")
            chosen = plans if plans is not None else plans_for(settings, seed).every(shard, shards)
            shown.end("drawing")
    except KeyboardInterrupt:  # Ctrl-C while the corpus is drawn: nothing ran, and that is reported
        result.interrupted = True
        return result
    updates = 0
    for plan in chosen:  # one pass over the plans for their labels; they are read again as they are run
        result.planned.append(plan.label)
        updates += len(plan.updates)
    contract = load_contract(settings.model_names or None, settings.dialect)
    secrets = redactor(settings.auth.secrets)  # the recorder numbers plans by shard: no label map held
    recorder = Recorder(result.directory, contract, {}, secrets, result.all_name, (shard, shards))
    result.log.sink = recorder.take
    result.tally = recorder.tally
    progress(f"{len(result.planned)} connections, {updates} updates planned")
    shown.begin("exchanges", len(result.planned))
    done = 0

    async def on_done(transcript: Transcript) -> None:
        nonlocal done
        done += 1
        shown.step("exchanges", done)
        for _ in range(100_000):  # the recorder behind: this slot waits (not the loop), so memory stays bounded
            if recorder.backlog <= RECORDER_BACKLOG:
                break
            await asyncio.sleep(0.005)

    async def main() -> None:
        async with target_url(settings) as url:
            if settings.kind == "mock":
                result.url = url
            await run_plans(chosen, target_for(settings, url), settings.concurrency, on_done, result.log)

    try:
        with signals.armed():
            asyncio.run(main())
    except KeyboardInterrupt:
        result.interrupted = True
    except Exception:  # a bug of ours: what ran is kept (run_plans saw to it), and reported with exit 4
        result.error = traceback.format_exc()
    finally:
        error = recorder.close()
        result.log.sink = None
    if error is not None:
        result.error = "\n".join(e for e in (result.error, error) if e)
    shown.end("exchanges")
    return result


def merge(shards: list[Shard]) -> RunLog:
    """One log from the shards' (transcripts a shard kept in memory, if any, in plan order)."""
    # Shard k ran plans k, k + n, k + 2n…: its i-th planned label is plan number i * n + k.
    order = run_order(shards) if any(s.log.transcripts for s in shards) else {}  # none kept: no map
    merged = RunLog()
    for shard in shards:
        merged.transcripts += shard.log.transcripts
        merged.exchanges += shard.log.exchanges
        merged.aborted += shard.log.aborted
        merged.cut += shard.log.cut
        merged.received_bytes += shard.log.received_bytes
        merged.unreached_connections += shard.log.unreached_connections
        merged.unsent_updates += shard.log.unsent_updates
        merged.failure = merged.failure or shard.log.failure
        merged.stopped = merged.stopped or shard.log.stopped
        merged.throttled += shard.log.throttled
        merged.throttled_s += shard.log.throttled_s
        merged.tls_fingerprint = merged.tls_fingerprint or shard.log.tls_fingerprint
    merged.transcripts.sort(key=lambda t: order.get(t.label, len(order)))
    return merged


def run_order(shards: list[Shard]) -> dict[str, int]:
    """Each plan label's number in the run (shard k ran plans k, k + n, k + 2n…)."""
    return {label: i * len(shards) + k for k, shard in enumerate(shards) for i, label in enumerate(shard.planned)}


def gather(settings: Settings, shards: list[Shard], directory: Path | None) -> tuple[Tally, Path]:
    """The shards' tallies as one, and their transcripts in one directory (all.jsonl shard after shard).

    A shard that kept its transcripts in memory (none of ours does) is judged and written here.
    """
    target = directory or next((s.directory for s in shards if s.directory is not None), None)
    target = target if target is not None else fresh_directory(None)
    target.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    combined = target / ALL
    written = [s.directory / s.all_name for s in shards if s.directory is not None]
    written = [path for path in written if path.exists() and path.resolve() != combined.resolve()]
    order = run_order(shards) if written or any(s.log.transcripts for s in shards) else {}  # one shard: none
    if written:  # the workers' files, each in its plan order: one file in the run's
        merge_in_order(written, order, combined)
        for path in written:
            path.unlink()
    for shard in shards:
        tally.merge(shard.tally)
        if shard.directory is None:
            continue
        if shard.directory.resolve() != target.resolve():
            for name in shard.directory.glob("*.jsonl"):
                if name.name != ALL:
                    shutil.move(name, target / name.name)
    kept = [s.log.transcripts for s in shards if s.log.transcripts]
    if kept:
        kept_file = target / "kept.jsonl"
        recorder = Recorder(
            target,
            load_contract(settings.model_names or None, settings.dialect),
            order,
            redactor(settings.auth.secrets),
            kept_file.name,
        )
        try:
            for transcripts in kept:
                for transcript in transcripts:
                    recorder.take(transcript)
        finally:
            error = recorder.close()
        if error is not None:
            raise RuntimeError(f"judging the shards' transcripts failed:\n{error}")
        tally.merge(recorder.tally)
        sources = [kept_file]
        if combined.exists():
            sources.append(combined.rename(target / "merged.jsonl"))
        merge_in_order(sources, order, combined)
        for path in sources:
            path.unlink()
    if not combined.exists():
        combined.touch()
    return tally, target


def finish(
    settings: Settings,
    seed: int,
    shards: list[Shard],
    started_at: str,
    started: float,
    progress: Callable[[str], None] = lambda _: None,
    directory: Path | None = None,
) -> Outcome:
    """Gather what the shards judged and wrote (into `directory`), shrink failures, and reach the verdict."""
    outcome = Outcome(settings, seed, shards[0].url if shards else settings.target, started_at)
    outcome.policy = policy_of(settings, date.today())
    outcome.log = merge(shards)
    outcome.tally, outcome.transcripts_dir = gather(settings, shards, directory)
    outcome.log.transcripts = []  # judged and written by gather
    outcome.interrupted = any(s.interrupted for s in shards)
    outcome.internal_error = "\n".join(s.error for s in shards if s.error) or None
    contract = load_contract(settings.model_names or None, settings.dialect)
    outcome.judgement = replace(outcome.tally.judgement(), exchanges=outcome.log.exchanges)
    outcome.files = {label: connection_file(i, label) for label, i in outcome.tally.evidence_index().items()}
    if outcome.judgement.unpaired:
        progress(
            f"{outcome.judgement.unpaired} exchange(s) could not be paired with their answers for certain "
            "(an extra or late answer in reach): the checks that pair did not judge them"
        )
    if outcome.log.throttled:
        progress(
            f"the target throttled {outcome.log.throttled} update(s) with a rate-limit error; "
            f"backed off {outcome.log.throttled_s:.1f}s in all and sent them again"
        )
    cut_short = outcome.interrupted or outcome.internal_error is not None or bool(outcome.log.cut)
    shrinkable = settings.profile != "smoke" and settings.shrink_budget_s > 0 and not cut_short
    if shrinkable and outcome.judgement.violations:
        progress("shrinking failing exchanges")
        shrink_deadline = time.monotonic() + settings.shrink_budget_s
        if settings.politeness.budget_s is not None:  # the run's time budget bounds shrinking too
            shrink_deadline = min(shrink_deadline, started + settings.politeness.budget_s)
        shown.begin("shrinking")

        halt = threading.Event()

        async def shrink() -> None:
            async with target_url(settings) as url:
                target = replace(target_for(settings, url), halt=halt)
                try:
                    await _shrink(settings, target, outcome, shrink_deadline)
                except asyncio.CancelledError:
                    halt.set()  # the shrinking thread stops connecting, so the interrupted run ends now
                    raise

        try:
            with signals.armed():
                asyncio.run(shrink())
        except KeyboardInterrupt:
            halt.set()
            outcome.interrupted = True
        shown.end("shrinking")
    decision = decide(contract, outcome.judgement, outcome.policy, outcome.incomplete, outcome.tally.omitted())
    outcome.results, outcome.verdict, outcome.baseline = list(decision.results), decision.verdict, decision.baseline
    outcome.duration_s = round(time.monotonic() - started, 3)
    return outcome


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

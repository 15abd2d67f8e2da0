"""One conformance run: plan the exchanges for a profile, run them against the target, judge.

This is the part `realtime-conformance run` and `pytest --target` share. The target is a URL;
`mock` only means the engine starts the reference mock first and uses its URL like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Literal

from hypothesis.errors import HypothesisException

from conformance import signals
from conformance.baseline import BaselineReport, Expected
from conformance.baseline import apply as apply_baseline
from conformance.checks import Judgement, judge, judge_all
from conformance.contract import Contract, load_contract
from conformance.generate import generated_plans, run_hypothesis, scripted_plans
from conformance.mock import MockConfig, serve_mock
from conformance.results import RequirementResult, Verdict, evaluate, verdict_of
from conformance.runner import MAX_RUN_BYTES, Plan, Politeness, RunLog, Target, run_connection, run_plans
from conformance.transcript import Transcript
from conformance.transport import Auth, ConnectFailed, Limits, public_url

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
    shrunk: list[Shrunk] = field(default_factory=list)
    baseline: BaselineReport | None = None
    interrupted: bool = False
    internal_error: str | None = None  # a bug of ours stopped part of the run: its traceback (exit 4)

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


def plans_for(settings: Settings, seed: int) -> list[Plan]:
    """Smoke: the scripted connections; full and certify add Schemathesis' coverage cases and drawn ones."""
    plans = scripted_plans()
    if settings.profile != "smoke":
        plans += list(generated_plans(seed, settings.connections))
    return plans


def certify(results: list[RequirementResult], minimum: int) -> list[RequirementResult]:
    """In a certified run no MUST may be skipped or thinly exercised: those fail, with the reason.

    A MUST that does not apply to this target (its condition never arose because the target
    legitimately omits an optional field) stays skipped, with why. An incomplete run is not
    certified at all: its verdict is `error`, whatever was left unexercised.
    """
    out = []
    for result in results:
        thin = result.status == "passed" and result.exercised < minimum
        unexercised = result.status == "skipped" and not result.not_applicable
        if result.requirement.level == "MUST" and (unexercised or thin):
            why = result.reason if result.status == "skipped" else f"exercised {result.exercised} times"
            reason = f"certification needs every MUST exercised at least {minimum} times; {why}"
            out.append(RequirementResult(result.requirement, "failed", result.exercised, (), reason))
        else:
            out.append(result)
    return out


def _size(updates: tuple[str, ...]) -> int:
    """Smaller is fewer updates first, then fewer characters."""
    return len(updates) * 10_000 + sum(len(u) for u in updates)


async def _shrink(settings: Settings, target: Target, outcome: Outcome, deadline: float) -> None:
    """Shrink one failing generated exchange per failed requirement with Hypothesis, within a deadline.

    Hypothesis replays the seed's draws; the draw that failed is run again and, when it fails the
    same way, shrunk. Every candidate is a real exchange against the target, so the minimal
    exchange kept is one that really failed. Draws that did not fail are not re-sent.
    """
    contract = load_contract(settings.model_names or None)
    by_label = {t.label: t for t in outcome.log.transcripts}
    generated = generated_plans(outcome.seed, settings.connections)
    loop = asyncio.get_running_loop()
    for requirement in sorted({v.requirement for v in outcome.judgement.violations}):
        failed_before = {
            plan.updates
            for plan in generated
            if plan.label in by_label
            and any(v.requirement == requirement for v in judge(by_label[plan.label], contract).violations)
        }
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
    )


@contextlib.asynccontextmanager
async def target_url(settings: Settings) -> AsyncIterator[str]:
    """The URL to test: the target as given, or a freshly started reference mock's."""
    if settings.kind == "mock":
        async with serve_mock(MockConfig(models=settings.models or MockConfig().models)) as url:
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


def run_shard(
    settings: Settings, seed: int, shard: int = 0, shards: int = 1, progress: Callable[[str], None] = lambda _: None
) -> Shard:
    """Run every `shards`-th plan starting at `shard` (a pytest-xdist worker's share, or all of them)."""
    result = Shard(public_url(settings.target, settings.auth.secrets), RunLog())
    try:
        with signals.armed():
            plans = plans_for(settings, seed)[shard::shards]
    except KeyboardInterrupt:  # Ctrl-C while the corpus is drawn: nothing ran, and that is reported
        result.interrupted = True
        return result
    result.planned = [plan.label for plan in plans]
    progress(f"{len(plans)} connections, {sum(len(p.updates) for p in plans)} updates planned")
    done = 0

    def on_done(transcript: Transcript) -> None:
        nonlocal done
        done += 1
        if done == len(plans) or done % 10 == 0:
            progress(f"{done}/{len(plans)} connections done")

    async def main() -> None:
        async with target_url(settings) as url:
            if settings.kind == "mock":
                result.url = url
            await run_plans(plans, target_for(settings, url), settings.concurrency, on_done, result.log)

    try:
        with signals.armed():
            asyncio.run(main())
    except KeyboardInterrupt:
        result.interrupted = True
    except Exception:  # a bug of ours: what ran is kept (run_plans saw to it), and reported with exit 4
        result.error = traceback.format_exc()
    return result


def merge(shards: list[Shard]) -> RunLog:
    """One log from the shards', transcripts in plan order (so a seed gives one result however run)."""
    # Shard k ran plans k, k + n, k + 2n…: its i-th planned label is plan number i * n + k.
    order = {label: i * len(shards) + k for k, shard in enumerate(shards) for i, label in enumerate(shard.planned)}
    merged = RunLog()
    for shard in shards:
        merged.transcripts += shard.log.transcripts
        merged.exchanges += shard.log.exchanges
        merged.aborted += shard.log.aborted
        merged.cut += shard.log.cut
        merged.received_bytes += shard.log.received_bytes
        merged.failure = merged.failure or shard.log.failure
        merged.stopped = merged.stopped or shard.log.stopped
        merged.throttled += shard.log.throttled
        merged.throttled_s += shard.log.throttled_s
        merged.tls_fingerprint = merged.tls_fingerprint or shard.log.tls_fingerprint
    merged.transcripts.sort(key=lambda t: order.get(t.label, len(order)))
    return merged


def finish(
    settings: Settings,
    seed: int,
    shards: list[Shard],
    started_at: str,
    started: float,
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Judge what the shards recorded, shrink failures, and reach the verdict."""
    outcome = Outcome(settings, seed, shards[0].url if shards else settings.target, started_at)
    outcome.log = merge(shards)
    outcome.interrupted = any(s.interrupted for s in shards)
    outcome.internal_error = "\n".join(s.error for s in shards if s.error) or None
    contract = load_contract(settings.model_names or None)
    outcome.judgement = judge_all(outcome.log.transcripts, contract)
    outcome.judgement.exchanges = outcome.log.exchanges
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

        halt = threading.Event()

        async def shrink() -> None:
            async with target_url(settings) as url:
                target = replace(target_for(settings, url), halt=halt)
                try:
                    await _shrink(settings, target, outcome, time.monotonic() + settings.shrink_budget_s)
                except asyncio.CancelledError:
                    halt.set()  # the shrinking thread stops connecting, so the interrupted run ends now
                    raise

        try:
            with signals.armed():
                asyncio.run(shrink())
        except KeyboardInterrupt:
            halt.set()
            outcome.interrupted = True
    results = evaluate(contract, outcome.judgement, settings.selected, not_run=outcome.incomplete)
    if settings.profile == "certify" and outcome.incomplete is None:
        results = certify(results, settings.min_exercised)
    outcome.results = results
    excused: frozenset[str] = frozenset()
    stale = False
    if settings.baseline is not None:
        outcome.baseline = apply_baseline(results, list(settings.baseline), settings.baseline_file, date.today())
        excused = frozenset(outcome.baseline.expected)
        stale = settings.strict_baseline and bool(outcome.baseline.fixed or outcome.baseline.expired)
    outcome.verdict = verdict_of(results, settings.strict, excused, stale)
    if outcome.incomplete is not None and outcome.verdict == "conformant":
        outcome.verdict = "error"  # what could not be tested is never called conformant
    outcome.duration_s = round(time.monotonic() - started, 3)
    return outcome


def new_seed(settings: Settings) -> int:
    return settings.seed if settings.seed is not None else random.SystemRandom().randrange(1, 2**31)


def run(settings: Settings, progress: Callable[[str], None] = lambda line: None) -> Outcome:
    """Run the profile against the target and judge it; never raises for a target's misbehaviour."""
    seed = new_seed(settings)
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    return finish(settings, seed, [run_shard(settings, seed, 0, 1, progress)], started_at, started, progress)

"""Shrinking: for each failed requirement, the smallest generated exchange that still fails it, re-run for real."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from hypothesis.errors import HypothesisException

from conformance import progress as shown
from conformance import signals
from conformance.checks import Judgement, judge
from conformance.contract import Contract, load_contract
from conformance.generate import waits
from conformance.generate.corpus import generated_plans, run_hypothesis
from conformance.run.runner import Plan, Target, run_connection
from conformance.run.settings import Settings
from conformance.run.target import target_for, target_url
from conformance.transcript import Transcript
from conformance.verdict.tally import Tally
from conformance.wire.arrival import new_loop


@dataclass(frozen=True)
class Shrunk:
    requirement: str
    updates: tuple[str, ...]
    transcript: Transcript


def shrink_failures(
    settings: Settings,
    seed: int,
    judgement: Judgement,
    tally: Tally,
    deadline: float,
    progress: Callable[[str], None],
) -> tuple[tuple[Shrunk, ...], bool]:
    """The shrunk exchanges found by `deadline` (against a fresh mock, or the target), and whether Ctrl-C
    ended the shrinking (what was found until then is kept)."""
    progress("shrinking failing exchanges")
    shown.begin("shrinking")
    halt = threading.Event()
    found: list[Shrunk] = []

    async def shrink() -> None:
        async with target_url(settings) as url:
            target = replace(target_for(settings, url), halt=halt)
            try:
                await _shrink(settings, target, seed, judgement, tally, deadline, found)
            except asyncio.CancelledError:
                halt.set()  # the shrinking thread stops connecting, so the interrupted run ends now
                raise

    interrupted = False
    try:
        signals.run_armed(shrink, new_loop)
    except KeyboardInterrupt:
        halt.set()
        interrupted = True
    shown.end("shrinking")
    return tuple(found), interrupted


def _size(updates: tuple[str, ...]) -> int:
    """Smaller is fewer updates first, then fewer characters."""
    return len(updates) * 10_000 + sum(len(u) for u in updates)


async def _shrink(
    settings: Settings,
    target: Target,
    seed: int,
    judgement: Judgement,
    tally: Tally,
    deadline: float,
    found: list[Shrunk],
) -> None:
    """Shrink one failing generated exchange per failed requirement with Hypothesis, within a deadline.

    Hypothesis replays the seed's draws; the draw that failed is run again and, when it fails the
    same way, shrunk. Every candidate is a real exchange against the target, so the minimal
    exchange kept is one that really failed. Draws that did not fail are not re-sent.
    """
    contract = load_contract(settings.model_names or None, settings.dialect)
    generated = generated_plans(seed, settings.connections, settings.dialect, settings.model_names)
    loop = asyncio.get_running_loop()
    for requirement in sorted({v.requirement for v in judgement.violations}):
        failing = tally.failing_labels(requirement)  # the first of them, in plan order
        failed_before = {plan.updates for plan in generated if plan.label in failing}
        if not failed_before or time.monotonic() >= deadline:
            continue
        alone = await _failing_alone(min(failed_before, key=_size), requirement, target, contract, deadline)
        if alone is not None:  # one update is the smallest exchange there is
            found.append(Shrunk(requirement, *alone))
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
            # waits as the generated connection had them: a late or second answer lands where it did there
            plan = Plan("shrunk", updates, waits(len(updates)))
            future = asyncio.run_coroutine_threadsafe(run_connection(plan, target), loop)
            transcript = future.result()
            if not isinstance(transcript, Transcript):
                return
            if any(v.requirement == requirement for v in judge(transcript, contract).violations):
                if not best or _size(updates) <= _size(best[0][0]):
                    best[:] = [(updates, transcript)]
                raise AssertionError(requirement)

        with contextlib.suppress(AssertionError, HypothesisException, ExceptionGroup):
            await asyncio.to_thread(run_hypothesis, seed, settings.connections, body, True, contract)
        if not best:
            continue
        updates, transcript = best[0]
        alone = await _failing_alone(updates, requirement, target, contract, deadline)
        found.append(Shrunk(requirement, *(alone or (updates, transcript))))


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

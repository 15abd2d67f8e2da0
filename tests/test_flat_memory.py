"""Memory flat in run size: plans are read as they run, and the connections in flight are bounded.

Two mechanisms, each tested on its own: (1) the drawn corpus is a file read lazily, and reading it
lazily gives exactly the plans drawing them eagerly gives, for every seed (seeds 1 to 3 by default;
RC_SEEDS=1-10 sweeps ten); (2) `run_plans` pulls plans one at a time through a fixed pool of
workers, so neither its tasks nor the plans it has taken grow with the number of plans, while
results still land in plan order. `benchmarks/run.py --memory-only` measures the peak RSS.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.generate import coverage_plans, probe_plans, scripted_plans, waits
from conformance.generate.corpus import Plans, generated_plans, run_hypothesis
from conformance.generate.plan import Plan
from conformance.run.runner import Politeness, RunLog, Target, run_plans
from conformance.wire.transport import Limits
from tests.harness import seeds
from tests.test_slow_targets import server, slow


def eagerly_drawn(seed: int, count: int) -> tuple[Plan, ...]:
    """The plans as the corpus was built before it was streamed: every draw held, then labelled."""
    drawn: list[tuple[str, ...]] = []
    run_hypothesis(seed, count, drawn.append)
    coverage = [Plan(f"coverage #{i + 1}", p.updates) for i, p in enumerate(coverage_plans())]
    generated = [Plan(f"generated #{i + 1} (seed {seed})", u, waits(len(u))) for i, u in enumerate(drawn)]
    return (*coverage, *probe_plans(), *generated)


@pytest.mark.parametrize("seed", seeds())
def test_the_lazily_read_corpus_is_the_eagerly_drawn_one(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALTIME_CONFORMANCE_CACHE", str(tmp_path))
    generated_plans.cache_clear()
    corpus = generated_plans(seed, 8)
    assert tuple(corpus) == eagerly_drawn(seed, 8)
    assert len(corpus) == len(tuple(corpus))
    assert tuple(corpus) == tuple(corpus)  # read again from the file: the same plans, in the same order
    generated_plans.cache_clear()
    assert tuple(generated_plans(seed, 8)) == tuple(corpus)  # replayed from disk, not drawn again


@pytest.mark.parametrize(("start", "step"), [(0, 1), (0, 3), (2, 3), (1, 2)])
def test_a_shard_of_the_plans_is_every_nth_plan(start: int, step: int) -> None:
    everything = scripted_plans()
    plans = Plans((tuple(everything[:3]), tuple(everything[3:])))
    shard = plans.every(start, step)
    assert list(shard) == everything[start::step]
    assert len(shard) == len(everything[start::step])
    assert list(plans.every(1, 2).every(1, 2)) == everything[3::4]  # a shard of a shard


def test_run_plans_pulls_plans_lazily_with_tasks_bounded_by_the_concurrency() -> None:
    """However many plans, at most concurrency + listening slots are taken ahead of those finished."""
    base = scripted_plans()
    count = 6 * len(base)
    concurrency, listening = 3, 2
    limits = Limits(answer_s=0.3, close_s=0.2)
    pulled = [0]

    def lazily() -> Iterator[Plan]:
        for i, plan in enumerate(itertools.islice(itertools.cycle(base), count)):
            pulled[0] += 1
            yield Plan(f"{plan.label}~{i}", plan.updates)

    async def run() -> tuple[RunLog, list[int], list[int]]:
        async with server(slow(0.0)) as url:
            target = Target(url, limits=limits, settle_s=0.0, politeness=Politeness(max_listening=listening))
            ahead: list[int] = []
            tasks: list[int] = []
            done = [0]

            def on_done(_: object) -> None:
                done[0] += 1
                ahead.append(pulled[0] - done[0])
                tasks.append(len(asyncio.all_tasks()))

            log = await run_plans(lazily(), target, concurrency, on_done)
            return log, ahead, tasks

    log, ahead, tasks = asyncio.run(asyncio.wait_for(run(), 60))
    bound = concurrency + listening  # connections in flight: answering, and listening out
    assert count > 4 * bound + 2  # so that the bounds below can fail
    assert log.failure is None and log.unreached_connections == 0
    labels = [t.label for t in log.transcripts]
    assert labels == [f"{p.label}~{i}" for i, p in enumerate(itertools.islice(itertools.cycle(base), count))]
    assert max(ahead) <= bound  # never the whole run taken up front
    assert max(tasks) <= 4 * bound + 2  # workers, the runner, and the server's handler per connection


def test_a_bug_in_one_connection_ends_the_run_with_it_and_keeps_what_finished() -> None:
    """A worker's exception is the run's (exit 4 upstream), raised once the others stopped, nothing lost."""
    plans = [Plan(f"{p.label}~{i}", p.updates) for i, p in enumerate(scripted_plans() * 4)]

    class Bug(Exception):
        pass

    async def run() -> RunLog:
        log = RunLog()
        done = [0]

        def on_done(_: object) -> None:
            done[0] += 1
            if done[0] == 2:
                raise Bug

        async with server(slow(0.0)) as url:
            limits, polite = Limits(answer_s=0.3, close_s=0.2), Politeness(max_listening=1)
            target = Target(url, limits=limits, settle_s=0.0, politeness=polite)
            with pytest.raises(Bug):
                await run_plans(plans, target, 2, on_done, log)
        return log

    log = asyncio.run(asyncio.wait_for(run(), 30))
    assert 2 <= len(log.transcripts) < len(plans)
    assert len(log.transcripts) + log.unreached_connections == len(plans)  # every plan accounted for
    order = [plan.label for plan in plans]
    assert [t.label for t in log.transcripts] == sorted((t.label for t in log.transcripts), key=order.index)

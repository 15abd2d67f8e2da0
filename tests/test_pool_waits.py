"""A connection waiting out a whole timeout before its next update (`Plan.wait_after`) frees its
concurrency slot meanwhile (while the pool's room for waiting connections has a place), so the waits
of a run overlap across connections instead of adding up, and takes a slot again before it sends;
however few the slots and places, every plan runs to its end. Under an exchange budget it keeps its
slot, so new connections do not spend what it was to send.

Judged against a server written here, on loopback (`answering`): it answers every update, and records
when each connection's updates arrived or how many it was answering at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from conformance.run.connection import recorded
from conformance.run.runner import Plan, Politeness, RunLog, Target, run_plans
from conformance.wire.transport import Limits
from tests.harness import serving

TIMEOUT_S = 0.4


def update(n: int) -> str:
    return json.dumps({"type": "session.update", "event_id": f"u{n}", "session": {"instructions": f"#{n}"}})


def answering(
    arrivals: dict[int, list[float]] | None = None, delay_s: float = 0.0, busy: list[int] | None = None
) -> Any:
    """The server of these tests: session.created, then each update echoed in a session.updated (after
    `delay_s`). `arrivals`: when each connection's updates came (connections in the order they opened);
    `busy`: [updates being answered now, the most at once]."""
    ids = itertools.count()

    async def handler(ws: ServerConnection) -> None:
        mine = arrivals.setdefault(next(ids), []) if arrivals is not None else []
        await ws.send(json.dumps({"type": "session.created", "event_id": "c", "session": {"id": "s"}}))
        async for text in ws:
            mine.append(time.monotonic())
            if busy is not None:
                busy[0] += 1
                busy[1] = max(busy[1], busy[0])
            if delay_s:
                await asyncio.sleep(delay_s)
            sent = json.loads(text)
            answer = {"type": "session.updated", "event_id": f"a{len(mine)}", "session": sent.get("session", {})}
            await ws.send(json.dumps(answer))
            if busy is not None:
                busy[0] -= 1

    return handler


async def run_recorded(
    plans: list[Plan], concurrency: int, listening: int, max_exchanges: int | None = None
) -> tuple[RunLog, dict[int, list[float]]]:
    """Run `plans`; what arrived: for each connection (in the order they opened), when each update came."""
    arrivals: dict[int, list[float]] = {}
    async with serving(answering(arrivals), compression=None) as url:
        limits = Limits(answer_s=TIMEOUT_S, close_s=0.2)
        polite = Politeness(max_listening=listening, max_exchanges=max_exchanges)
        log = await run_plans(plans, Target(url, limits=limits, settle_s=0.0, politeness=polite), concurrency)
    return log, arrivals


def test_waits_of_several_connections_overlap_on_one_connection_slot() -> None:
    """Concurrency 1: while the first connection waits out its timeout, the others take the slot and
    send their first updates, so every first update arrives before any second one; each connection
    still waits the whole timeout between its two updates, and the plans' results stay in plan order."""
    plans = [Plan(f"p{i}", (update(2 * i), update(2 * i + 1)), frozenset({0})) for i in range(4)]
    log, arrivals = asyncio.run(asyncio.wait_for(run_recorded(plans, concurrency=1, listening=8), 30))
    assert [t.label for t in log.transcripts] == [p.label for p in plans]
    assert log.unsent_updates == 0 and log.failure is None
    times = list(arrivals.values())
    assert len(times) == len(plans) and all(len(t) == 2 for t in times)
    assert max(first for first, _ in times) < min(second for _, second in times)  # the waits overlapped
    assert all(second - first >= TIMEOUT_S - 0.05 for first, second in times)  # each waited the timeout out


def test_with_one_slot_and_one_place_to_wait_every_plan_with_waits_runs_to_its_end() -> None:
    """One connection slot, one place in the room for waiting connections: a connection that finds the
    place taken waits (or listens out) in its slot, and one waiting for its slot back never blocks the
    others (no deadlock)."""
    plans = [Plan(f"p{i}", tuple(update(10 * i + k) for k in range(3)), frozenset({0, 1})) for i in range(5)]
    log, arrivals = asyncio.run(asyncio.wait_for(run_recorded(plans, concurrency=1, listening=1), 60))
    assert [t.label for t in log.transcripts] == [p.label for p in plans]
    assert log.unsent_updates == 0 and log.unreached_connections == 0
    assert sorted(len(t) for t in arrivals.values()) == [3] * len(plans)
    for times in arrivals.values():
        assert all(b - a >= TIMEOUT_S - 0.05 for a, b in itertools.pairwise(times))


def test_a_connection_slot_is_never_shared_while_exchanging() -> None:
    """Concurrency 2, waits in every plan: at no moment do more than two connections have an update
    sent and not yet answered (the server answers at once, so only a slot's holder can be between
    them); counted on the server as the updates arrive."""
    busy = [0, 0]
    # each answer 20 ms late: long enough for every connection that could send meanwhile to do so
    handler = answering(delay_s=0.02, busy=busy)

    async def run() -> RunLog:
        async with serving(handler, compression=None) as url:
            target = Target(url, limits=Limits(answer_s=0.2, close_s=0.2), settle_s=0.0)
            plans = [Plan(f"p{i}", tuple(update(10 * i + k) for k in range(4)), frozenset({1})) for i in range(8)]
            return await run_plans(plans, target, 2)

    log = asyncio.run(asyncio.wait_for(run(), 60))
    assert log.unsent_updates == 0 and len(log.transcripts) == 8
    assert busy[1] == 2  # reached (so the count can fail), never passed


def test_under_an_exchange_budget_connections_keep_their_slot_while_waiting() -> None:
    """--max-exchanges: the budget goes to connections in plan order, only those in flight when it ends
    left partial, as without waits; had a waiting connection left its slot, the new connections would
    have spent what its last update needed (then no plan at all was sent whole)."""
    per, budget, concurrency = 4, 40, 4
    plans = [Plan(f"p{i}", tuple(update(10 * i + k) for k in range(per)), frozenset({per - 2})) for i in range(30)]
    log, arrivals = asyncio.run(asyncio.wait_for(run_recorded(plans, concurrency, 8, max_exchanges=budget), 60))
    assert sum(len(t) for t in arrivals.values()) == budget
    assert log.stopped is not None and "exchange budget" in log.stopped
    sent = [sum(1 for f in t.frames if f.direction == "client" and f.kind == "text") for t in log.transcripts]
    assert [t.label for t in log.transcripts] == [p.label for p in plans[: len(sent)]]  # in plan order
    whole = sent.index(next(n for n in sent if n < per)) if min(sent) < per else len(sent)
    assert sent[:whole] == [per] * whole and all(n < per for n in sent[whole:])
    assert len(sent) - whole <= concurrency and whole >= budget // per - concurrency


def test_a_run_cancelled_while_connections_wait_keeps_what_they_recorded_and_ends_at_once() -> None:
    """Ctrl-C while connections wait in the room or wait for their slot back: the run ends within the close
    bound, and every connection in flight keeps its frames, marked as cut."""
    plans = [Plan(f"p{i}", (update(2 * i), update(2 * i + 1)), frozenset({0})) for i in range(6)]

    async def run() -> tuple[RunLog, float]:
        async with serving(answering(), compression=None) as url:
            target = Target(url, limits=Limits(answer_s=5.0, close_s=0.2), settle_s=0.0)
            log = RunLog()
            task = asyncio.ensure_future(run_plans(plans, target, 2, log=log))
            await asyncio.sleep(0.5)  # every connection has sent its first update and waits (5 s)
            start = time.monotonic()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return log, time.monotonic() - start

    log, took = asyncio.run(asyncio.wait_for(run(), 30))
    assert took < 2.0
    assert {cut.reason for cut in log.cut} == {"interrupted"} and len(log.cut) == len(plans)
    for transcript in log.transcripts:
        sent = [f for f in transcript.frames if f.direction == "client" and f.kind == "text"]
        assert len(sent) == 1  # the first update, recorded; the second was never sent


@pytest.mark.parametrize("heeds", [True, False], ids=["ends-cancelled", "returns-anyway"])
def test_a_connection_still_closing_when_a_cancelled_run_stops_waiting_is_taken_once_as_cut(
    monkeypatch: pytest.MonkeyPatch, heeds: bool
) -> None:
    """A cancelled run waits for its connections to close only so long (the close bound and a second).
    One that ends later (its close handshake held up, its loop stalled on a busy machine; planted here:
    it sleeps past that wait) is taken as cut then, with what it recorded, exactly once: whether it then
    ends cancelled or, a cancel lost, returns its transcript, the run takes nothing more of it."""
    import conformance.run.runner as runner

    original = runner.run_connection

    async def slow_to_close(plan: Plan, target: Target, *args: Any) -> Any:
        *rest, opened = args
        sessions: list[Any] = []
        try:
            return await original(plan, target, *rest, lambda s: (sessions.append(s), opened(s)))
        except asyncio.CancelledError:
            await asyncio.sleep(target.limits.close_s + 2.5)  # past the run's wait for it
            if heeds:
                raise
            return recorded(sessions[0], plan, target)

    monkeypatch.setattr(runner, "run_connection", slow_to_close)
    plans = [Plan(f"p{i}", (update(2 * i), update(2 * i + 1)), frozenset({0})) for i in range(4)]
    taken: list[str] = []

    async def run() -> RunLog:
        async with serving(answering(), compression=None) as url:
            target = Target(url, limits=Limits(answer_s=5.0, close_s=0.1), settle_s=0.0)
            log = RunLog(sink=lambda transcript, _: taken.append(transcript.label))
            task = asyncio.ensure_future(run_plans(plans, target, 2, log=log))
            await asyncio.sleep(0.5)  # every connection has sent its first update and waits (5 s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(target.limits.close_s + 3.5)  # the connections end meanwhile, late
            return log

    log = asyncio.run(asyncio.wait_for(run(), 30))
    cut = [c.connection for c in log.cut]
    assert {c.reason for c in log.cut} == {"interrupted"}
    assert sorted(cut) == sorted(taken) == sorted(p.label for p in plans)  # each cut taken, each once
    assert log.exchanges == len(plans) and log.unreached_connections == 0


def test_at_most_a_few_connections_per_slot_wait_outside_their_slot() -> None:
    """WAITING_PER_SLOT connections per slot may wait before their last update outside a slot; the next one
    waits in its slot, so a long run's connections do not pile up waiting (each holds its state)."""
    from conformance.run.runner import WAITING_PER_SLOT

    count = WAITING_PER_SLOT + 3
    plans = [Plan(f"p{i}", (update(2 * i), update(2 * i + 1)), frozenset({0})) for i in range(count)]
    log, arrivals = asyncio.run(asyncio.wait_for(run_recorded(plans, concurrency=1, listening=64), 60))
    assert log.unsent_updates == 0 and len(log.transcripts) == count
    first_second = min(times[1] for times in arrivals.values())
    early = sum(1 for times in arrivals.values() if times[0] < first_second)
    assert early == WAITING_PER_SLOT + 1  # those waiting outside, and the one waiting in the slot

"""Judging ahead (conformance.checks.ahead) changes no verdict.

While an answer is awaited, the runner judges what one frame alone decides (each server frame's checks,
each update's classification in the context it expects) and keeps it with the frame. Judging the
transcript later must come to exactly the judgement of the same frames judged afresh: against the
servers of tests/test_exchange_verdicts.py (conforming ones and faulty ones), on several seeds, under
both dialects, and where the runner's expectation was wrong (an update switching the session type
that the server rejected; session.created only after the first update). CI runs seeds 1..3; the
ten-seed sweep is `RC_SEEDS=1-10 .venv/bin/python -m pytest tests/test_judging_ahead.py`.
"""

from __future__ import annotations

import gc
import json
import pickle
import weakref
from dataclasses import replace
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from conformance.checks import Judgement, judge_all
from conformance.checks.ahead import Ahead
from conformance.contract import load_contract
from conformance.contract.oracle import Context
from conformance.generate.plan import Plan
from conformance.run.runner import RunLog, Target, run_plans
from conformance.run.settings import Settings
from conformance.run.shard import plans_for
from conformance.transcript import Frame, Transcript
from conformance.wire.transport import Limits
from tests import harness
from tests.harness import seeds, serving
from tests.test_exchange_verdicts import CONFORMING, FAULTY, server

LIMITS = Limits(connect_s=2.0, answer_s=1.0, close_s=0.5)  # the timeout of the CLI runs there
SERVERS = {**CONFORMING, **{name: behaviour for name, (behaviour, _) in FAULTY.items()}}
BLAMED = {name: requirement for name, (_, requirement) in FAULTY.items()}


def afresh(transcript: Transcript) -> Transcript:
    """The same frames with nothing kept beside them, as a transcript read back from a file has them."""
    copy: Transcript = pickle.loads(pickle.dumps(transcript))
    assert all(not key.startswith("_") for f in copy.frames for key in f.__dict__)
    return copy


def kept_ahead(transcripts: list[Transcript]) -> int:
    return sum(1 for t in transcripts for f in t.frames if "_derived" in f.__dict__)


def assert_same_as_afresh(transcripts: list[Transcript], dialect: str = "yandex") -> Judgement:
    """Judged as the runner left them, and afresh: the same judgement (under the other dialect, none of the
    work kept applies: it was done for the default one)."""
    fresh = [afresh(t) for t in transcripts]
    contract = load_contract(None, dialect)
    judged = judge_all(transcripts, contract)
    assert judged == judge_all(fresh, contract), dialect
    assert kept_ahead(transcripts) == 0  # judging dropped what was kept (some of it refers back to its frame)
    return judged


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize("name", SERVERS)
def test_judging_ahead_gives_the_judgement_of_judging_afresh(name: str, seed: int) -> None:
    async def scenario() -> RunLog:
        async with server(SERVERS[name])() as url:
            plans = plans_for(Settings(profile="full", connections=4), seed)
            return await run_plans(plans, Target(url, limits=LIMITS, settle_s=0.05), concurrency=8)

    transcripts = harness.run(scenario(), 120.0).transcripts
    assert kept_ahead(transcripts) > len(transcripts)  # the runner did judge ahead
    judgement = assert_same_as_afresh(transcripts)
    blamed = {v.requirement for v in judgement.violations}
    assert blamed == ({BLAMED[name]} if name in BLAMED else set()), blamed


CREATED = {"type": "session.created", "event_id": "evt_0", "session": {"type": "realtime", "instructions": "I."}}


def switch_refusing_handler(created_after_first_update: bool) -> Any:
    """Applies and echoes every update but one that sets another session type, which it rejects (the
    documents leave a switch undetermined: either answer conforms); session.created goes first, or only
    once the first update came."""

    async def handle(ws: ServerConnection) -> None:
        session, count = dict(CREATED["session"]), 0
        if not created_after_first_update:
            await ws.send(json.dumps(CREATED))
        try:
            async for text in ws:
                count += 1
                event = json.loads(text)
                if created_after_first_update and count == 1:
                    await ws.send(json.dumps(CREATED))
                patch = event.get("session", {})
                if patch.get("type", "realtime") != "realtime":
                    error = {"type": "invalid_request_error", "message": "no switch", "event_id": event.get("event_id")}
                    await ws.send(json.dumps({"type": "error", "event_id": f"e{count}", "error": error}))
                    continue
                session.update(patch)
                await ws.send(json.dumps({"type": "session.updated", "event_id": f"e{count}", "session": session}))
        except ConnectionClosed:
            pass

    return handle


def _update(event_id: str, **session: Any) -> str:
    return json.dumps({"type": "session.update", "event_id": event_id, "session": session})


@pytest.mark.parametrize("created_late", [False, True], ids=["created first", "created after the first update"])
def test_where_the_runner_expected_another_context_the_update_is_classified_again(created_late: bool) -> None:
    """The runner classifies the update after a type switch as on a switched session (as if the switch
    were accepted); the server rejected it, so judging classifies it again, in the context it was in."""
    updates = (
        _update("a", type="realtime", instructions="A."),
        _update("b", type="transcription"),
        _update("c", type="realtime", instructions="C."),
    )

    async def scenario() -> RunLog:
        async with serving(switch_refusing_handler(created_late), "/realtime") as url:
            limits = replace(LIMITS, answer_s=0.3)
            return await run_plans([Plan("switch", updates, literal=True)], Target(url, limits=limits, settle_s=0.05))

    (transcript,) = harness.run(scenario(), 30.0).transcripts
    sent = [f for f in transcript.frames if f.direction == "client" and f.kind == "text"]
    assert [f.text for f in sent] == list(updates)
    expected: Context = sent[2].__dict__["_derived"]["classified"][0][1]
    assert expected.switched  # what the runner expected: the switch accepted
    assert_same_as_afresh([afresh(transcript)], "openai")  # (nothing kept)
    judgement = assert_same_as_afresh([transcript])  # the kept classification not taken: another context
    late = {"SC-SENT"} if created_late else set()  # session.created must come first, and within the timeout
    assert judgement.exercised["EX-REFLECT"] >= 2 and {v.requirement for v in judgement.violations} == late


def test_work_kept_with_a_frame_is_given_again_only_for_the_same_inputs() -> None:
    frame = Frame("server", 0.5, text='{"type": "x"}')
    calls: list[int] = []

    def compute(value: int) -> int:
        calls.append(value)
        return value

    assert frame.derived("n", (1,), lambda: compute(1)) == 1
    assert frame.derived("n", (1,), lambda: compute(99)) == 1  # kept: not computed again
    assert frame.derived("n", (2,), lambda: compute(2)) == 2  # other inputs: computed
    assert calls == [1, 2]
    big = Frame("server", 0.5, text="[" + "0," * 40_000 + "0]")  # over KEEP_PARSED_CHARS: nothing kept
    deep = Frame("server", 0.5, text="[" * 300 + "]" * 300)  # deep: what is derived may depend on the stack
    for unsteady in (big, deep):
        assert unsteady.derived("n", (1,), lambda: compute(3)) == 3 and "_derived" not in unsteady.__dict__
    assert frame == pickle.loads(pickle.dumps(frame)) and "_derived" not in pickle.loads(pickle.dumps(frame)).__dict__
    frame.forget()
    assert frame.derived("n", (1,), lambda: compute(4)) == 4


def test_judging_ahead_takes_at_least_one_frame_and_stops_at_its_budget() -> None:
    """On the event loop, each take is bounded: with no time at all it judges one frame, and the next take goes
    on from there. A text over the kept size, or nested deep enough that Python's recursion limit (counted from
    the caller's depth) could decide how it is read, is left to judging the whole transcript."""
    session = dict(CREATED["session"])
    frames = [Frame("server", 0.0, text=json.dumps(CREATED))]
    for n in range(20):
        session["instructions"] = f"step {n}"
        update = {"type": "session.update", "event_id": f"u{n}", "session": {"instructions": f"step {n}"}}
        frames.append(Frame("client", 0.01 * n + 0.001, text=json.dumps(update)))
        answer = {"type": "session.updated", "event_id": f"e{n}", "session": dict(session)}
        frames.append(Frame("server", 0.01 * n + 0.002, text=json.dumps(answer)))
    long = Frame("server", 0.3, text=json.dumps({"type": "x", "pad": "p" * 70_000}))
    deep = Frame("server", 0.4, text='{"type": "x", "v": ' + "[" * 900 + "]" * 900 + "}")
    frames += [long, deep]
    transcript = Transcript("ws://127.0.0.1:1/realtime", 1.0, (), tuple(frames))
    ahead = Ahead(load_contract(), replace(transcript, frames=()))
    for taken in range(1, len(frames) + 1):
        ahead.take(frames, budget_s=0.0)
        judged = [f for f in frames if "_derived" in f.__dict__]
        assert judged == [f for f in frames[:taken] if f not in (long, deep)]
    assert_same_as_afresh([transcript])


class Watched(list[Frame]):
    """A connection's record that counts the frames read from it, one by one or in slices."""

    def __init__(self, frames: list[Frame]) -> None:
        super().__init__(frames)
        self.read = 0

    def __getitem__(self, index: Any) -> Any:
        got = super().__getitem__(index)
        self.read += len(got) if isinstance(index, slice) else 1
        return got

    def __iter__(self) -> Any:
        for index in range(len(self)):
            yield self[index]


def test_a_take_reads_the_frames_it_judges_not_the_backlog_behind_them() -> None:
    """A chatty target's flood outgrows what one take's budget judges; each take must then cost its budget, not
    the length of what waits (a take that copied or walked the whole backlog was quadratic over a flood)."""
    flood = [Frame("server", 0.0, text=json.dumps(CREATED))]
    flood += [Frame("server", 0.001 * n, text=json.dumps({"type": "x", "event_id": f"e{n}"})) for n in range(5000)]
    frames = Watched(flood)
    ahead = Ahead(load_contract(), Transcript("ws://127.0.0.1:1/realtime", 1.0))
    for taken in range(1, 11):
        ahead.take(frames, budget_s=0.0)
        assert frames.read == taken  # one frame a take, with no time at all
    assert [f for f in flood if "_derived" in f.__dict__] == flood[:10]


def test_work_kept_for_another_dialect_is_not_taken() -> None:
    """Judged ahead for the default dialect, judged under openai's: as afresh."""
    frames = [Frame("server", 0.0, text=json.dumps(CREATED))]
    update = {"type": "session.update", "event_id": "u", "session": {"type": "realtime", "instructions": "I."}}
    frames.append(Frame("client", 0.01, text=json.dumps(update)))
    frames.append(
        Frame(
            "server",
            0.02,
            text=json.dumps({"type": "session.updated", "event_id": "e1", "session": CREATED["session"]}),
        )
    )
    transcript = Transcript("ws://127.0.0.1:1/realtime", 1.0, (), tuple(frames))
    Ahead(load_contract(), replace(transcript, frames=())).take(frames)
    assert kept_ahead([transcript]) == len(frames)
    assert_same_as_afresh([transcript], "openai")


def test_a_judged_transcript_is_freed_without_the_cyclic_collector() -> None:
    """What judging ahead keeps refers back to its frame (its event, its violations); judging drops it, so
    a judged connection is freed as soon as it is let go, while a run's collections are paused."""
    frames = [Frame("server", 0.0, text=json.dumps(CREATED))]
    frames.append(Frame("server", 0.01, text=json.dumps({"type": "session.updated", "session": 7})))  # a violation
    transcript = Transcript("ws://127.0.0.1:1/realtime", 1.0, (), tuple(frames))
    Ahead(load_contract(), replace(transcript, frames=())).take(frames)
    assert kept_ahead([transcript]) == 1  # the invalid event is left to judging: explaining it may take long
    watched = [weakref.ref(f) for f in frames]
    enabled = gc.isenabled()
    gc.disable()
    try:
        assert judge_all([transcript], load_contract()).violations
        del transcript, frames
        assert all(ref() is None for ref in watched)
    finally:
        if enabled:
            gc.enable()

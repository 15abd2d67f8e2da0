"""A client event that awaits no answer (`input_audio_buffer.append`, spec/events.json) between
updates: the runner does not wait for it, and the judge pairs only the updates with their answers.

A server written here (on 127.0.0.1) answers updates as documented, ignores well-formed audio and
rejects malformed audio with an `error` echoing its event_id. Judging the real transcript must find
nothing (a false failure is the worst bug); the same server dropping one update's answer must be
blamed for exactly EX-VALID-ANSWERED, appended audio or not.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from conformance.checks import Judgement, judge
from conformance.contract import load_contract
from conformance.run.runner import Plan, Target, run_plans
from conformance.transcript import Transcript
from conformance.wire.transport import Limits
from tests.conftest import run as bounded

CONTRACT = load_contract()
MODEL = "gpt://b1gappendfolder00000/speech-realtime-250923"
TIMEOUT_S = 0.8


def server(drop_answer_to: str | None = None) -> Any:
    async def handle(ws: ServerConnection) -> None:
        session: dict[str, Any] = {"type": "realtime", "object": "realtime.session", "id": "sess_a", "model": MODEL}
        count = 0

        def event(kind: str, **fields: Any) -> str:
            nonlocal count
            count += 1
            return json.dumps({"type": kind, "event_id": f"srv_{count}", **fields})

        await ws.send(event("session.created", session=session))
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                data = json.loads(text)
                if data["type"] == "input_audio_buffer.append":
                    if not isinstance(data.get("audio"), str):
                        error = {"type": "invalid_request_error", "message": "audio", "event_id": data.get("event_id")}
                        await ws.send(event("error", error=error))
                elif data["type"] == "session.update" and data.get("event_id") != drop_answer_to:
                    session = {**session, **data["session"]}
                    await ws.send(event("session.updated", session=session))

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[str]:
        async with serve(handle, "127.0.0.1", 0) as ws_server:
            port = ws_server.sockets[0].getsockname()[1]
            yield f"ws://127.0.0.1:{port}/"

    return running


def update(event_id: str, instructions: str) -> str:
    session = {"type": "realtime", "instructions": instructions}
    return json.dumps({"type": "session.update", "event_id": event_id, "session": session})


def append(event_id: str, audio: Any = "AAAAAA==") -> str:
    return json.dumps({"type": "input_audio_buffer.append", "event_id": event_id, "audio": audio})


PLAN = Plan(
    "appends",
    (
        update("u1", "One."),
        append("a1"),
        append("a2", audio=None),  # malformed: the server rejects it, echoing a2
        update("u2", "Two."),
        append("a3"),
        update("u3", "Three."),
    ),
)
UPDATES = sum(1 for text in PLAN.updates if CONTRACT.answers_to(json.loads(text)["type"]))


def judged(drop_answer_to: str | None = None) -> tuple[Transcript, Judgement]:
    async def go() -> Any:
        async with server(drop_answer_to)() as url:
            limits = Limits(connect_s=2.0, answer_s=TIMEOUT_S, close_s=0.5)
            return await run_plans([PLAN], Target(url, limits=limits, settle_s=0.05, models=(MODEL,)))

    log = bounded(go(), 30)
    (transcript,) = log.transcripts
    return transcript, judge(transcript, CONTRACT)


def test_the_registry_says_appended_audio_awaits_no_answer() -> None:
    assert CONTRACT.answers_to("input_audio_buffer.append") == ()
    assert set(CONTRACT.answers_to("session.update")) == {"session.updated", "error"}
    assert 0 < UPDATES < len(PLAN.updates)


def test_appended_audio_between_updates_is_judged_with_no_false_violation() -> None:
    transcript, judgement = judged()
    assert judgement.violations == (), judgement.violations
    assert judgement.exchanges == UPDATES and judgement.unpaired == 0
    assert judgement.exercised["EX-VALID-ANSWERED"] == UPDATES
    assert judgement.exercised["EX-INVALID-REJECTED"] == 0  # no append is taken for an invalid update
    sent = [f for f in transcript.frames if f.direction == "client" and f.kind == "text"]
    assert len(sent) == len(PLAN.updates)
    # The runner waited for no answer to an append: the next frame followed it well within the timeout.
    gaps = [b.time - a.time for a, b in itertools.pairwise(sent) if "input_audio_buffer" in (a.text or "")]
    assert gaps and max(gaps) < TIMEOUT_S / 2
    # The error answering the malformed append was received, and judged for its shape only.
    assert any('"error"' in (f.text or "") for f in transcript.frames if f.direction == "server")


@pytest.mark.parametrize("dropped", ["u2", "u3"])
def test_an_unanswered_update_amid_appended_audio_violates_exactly_EX_VALID_ANSWERED(dropped: str) -> None:
    _, judgement = judged(drop_answer_to=dropped)
    assert {v.requirement for v in judgement.violations} == {"EX-VALID-ANSWERED"}, judgement.violations

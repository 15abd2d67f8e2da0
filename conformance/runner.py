"""Drive planned exchanges over the transport and collect one transcript per connection.

The runner knows what an answer is (the first `session.updated` or `error` after an update) so
it can stop waiting; judging what came back is left to `checks`, offline, from the transcript.
A connection whose answer did not come within the timeout is not used further: nothing that
follows on it could be paired with what was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.checks import ANSWER_TYPES, url_models
from conformance.transcript import Frame, Transcript
from conformance.transport import Auth, Closed, ConnectFailed, Limits, Session, Timeout, open_session

MODEL_PLACEHOLDER = "$announced-model"


@dataclass(frozen=True)
class Plan:
    """One connection: the texts of the updates to send, in order."""

    label: str
    updates: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """Where and how to connect, and the bounds of every wait."""

    url: str
    auth: Auth = field(default_factory=Auth)
    limits: Limits = field(default_factory=Limits)
    models: tuple[str, ...] = ()  # models the user says the target accepts
    settle_s: float = 0.1  # how long to keep listening after the last answer, for stray answers


@dataclass
class RunLog:
    """What a run produced so far: kept whole even when the run stops early."""

    transcripts: list[Transcript] = field(default_factory=list)
    failure: ConnectFailed | None = None
    exchanges: int = 0
    tls_fingerprint: str | None = None


def event_type(frame: Frame) -> Any:
    if frame.text is None:
        return None
    try:
        event = json.loads(frame.text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return event.get("type") if isinstance(event, dict) else None


def announced_model(frame: Frame) -> str | None:
    assert frame.text is not None
    session = json.loads(frame.text).get("session")
    model = session.get("model") if isinstance(session, dict) else None
    return model if isinstance(model, str) else None


def with_model(text: str, model: str | None) -> str:
    """Put the known model where a plan has the placeholder (or drop the field if none is known)."""
    if MODEL_PLACEHOLDER not in text:
        return text
    event = json.loads(text)
    session = event["session"]
    if model is None:
        del session["model"]
    else:
        session["model"] = model
    return json.dumps(event)


async def _wait_for(session: Session, types: Sequence[str], timeout_s: float) -> Frame | Timeout | Closed:
    """Receive until a text frame of one of `types` arrives, or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        item = await session.receive(deadline - time.monotonic())
        if not isinstance(item, Frame):
            return item
        if event_type(item) in types:
            return item


async def run_connection(plan: Plan, target: Target, log: RunLog | None = None) -> Transcript | ConnectFailed:
    session = await open_session(target.url, target.auth, target.limits)
    if isinstance(session, ConnectFailed):
        return session
    if log is not None and log.tls_fingerprint is None:
        log.tls_fingerprint = session.tls_fingerprint
    timeout = target.limits.answer_s
    models = [*target.models, *sorted(url_models(target.url))]
    try:
        created = await _wait_for(session, ("session.created",), timeout)
        announced = announced_model(created) if isinstance(created, Frame) else None
        if announced:
            models.append(announced)
        model = announced or (models[0] if models else None)
        for text in plan.updates:
            if session.closed is not None:
                break
            if isinstance(await session.send(with_model(text, model)), Closed):
                break
            answer = await _wait_for(session, ANSWER_TYPES, timeout)
            if not isinstance(answer, Frame):
                break  # timed out or closed: later answers could not be paired
            await session.ready()
        await _drain(session, target.settle_s)
    finally:
        await session.close()
    return session.transcript(target.url, timeout, list(dict.fromkeys(target.models)), plan.label)


async def _drain(session: Session, settle_s: float) -> None:
    deadline = time.monotonic() + settle_s
    while session.closed is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not isinstance(await session.receive(remaining), Frame):
            return


async def run_plans(
    plans: Sequence[Plan],
    target: Target,
    concurrency: int = 1,
    on_done: Callable[[Transcript], Awaitable[None] | None] | None = None,
) -> RunLog:
    """Run every plan (up to `concurrency` connections at once); stop at the first connect failure.

    Transcripts come back in plan order whatever the concurrency, so a seed gives one result.
    """
    log = RunLog()
    results: list[Transcript | ConnectFailed | None] = [None] * len(plans)
    semaphore = asyncio.Semaphore(max(1, concurrency))
    stop = asyncio.Event()

    async def one(index: int, plan: Plan) -> None:
        async with semaphore:
            if stop.is_set():
                return
            result = await run_connection(plan, target, log)
            results[index] = result
            if isinstance(result, ConnectFailed):
                stop.set()
            elif on_done is not None:
                maybe = on_done(result)
                if maybe is not None:
                    await maybe

    await asyncio.gather(*(one(i, p) for i, p in enumerate(plans)))
    for result in results:
        if isinstance(result, Transcript):
            log.transcripts.append(result)
            log.exchanges += sum(1 for f in result.frames if f.direction == "client" and f.kind == "text")
        elif isinstance(result, ConnectFailed) and log.failure is None:
            log.failure = result
    return log

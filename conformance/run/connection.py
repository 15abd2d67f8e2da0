"""One planned connection over the transport: open it, send each update and wait for its answer,
listen out the last timeout, and hand back the transcript.

The runner knows what an answer is (the event registry says which events answer what was sent) so
it can stop waiting; judging what came back is left to `checks`, offline, from the transcript.
A connection whose answer did not come within the timeout is not used further: nothing that
follows on it could be paired with what was sent. A rate-limit `error` is throttling, not an
answer: the update is sent again after a bounded exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from conformance.checks import is_throttle, url_models
from conformance.checks.ahead import Ahead
from conformance.checks.pairing import frame_sent
from conformance.contract import Contract, load_contract
from conformance.contract.oracle import announced_type
from conformance.generate.plan import Plan
from conformance.jsontext import glance, quick
from conformance.run.log import Cut, RunLog, Target
from conformance.run.pacing import Pacer
from conformance.run.placeholders import filled
from conformance.transcript import Frame, Transcript
from conformance.wire.transport import ByteBudget, Closed, ConnectFailed, Session, Timeout, open_session


def event_of(frame: Frame) -> dict[str, Any]:
    """The frame's event ({} if it is none), parsed once and kept with the frame for judging. A text that
    is not steady, or holds long integers, is only glanced at: its exact parse could hold the event loop
    for seconds, and every answer behind it would be stamped late (judging parses it on its own thread)."""
    text = frame.text
    if text is None:
        return {}
    try:
        event = frame.json(is_quick=True) if frame.steady and quick(text) else glance(text)
    except (ValueError, RecursionError):  # not JSON, or JSON this Python refuses
        return {}
    return event if isinstance(event, dict) else {}


#: The longest announced model an update copies: a model ID is a short name or URI, and a target that
#: announces a huge one would else have it sent back in every valid update (the field is left out then).
MAX_MODEL_CHARS = 1024


def announced_model(event: dict[str, Any]) -> str | None:
    """The model session.created announced, to set in updates; None if none, or one too long to copy."""
    session = event.get("session")
    model = session.get("model") if isinstance(session, dict) else None
    return model if isinstance(model, str) and len(model) <= MAX_MODEL_CHARS else None


async def _wait_for(
    session: Session,
    types: Sequence[str],
    timeout_s: float,
    after: float = 0.0,
    claimed: Callable[[str | None], bool] = lambda _: False,
) -> tuple[Frame, dict[str, Any]] | Timeout | Closed:
    """Receive until a text frame of one of `types` arrives at `after` or later, on the connection's
    clock (it, and its event), or the deadline passes; an error whose echoed event_id is `claimed`
    (an earlier event's: appended audio, say) is that event's, not an answer to this one."""
    deadline = time.monotonic() + timeout_s
    while True:
        item = await session.receive(deadline - time.monotonic())
        if not isinstance(item, Frame):
            return item
        event = event_of(item)
        if event.get("type") in types and item.time >= after and not claimed(_echo(event)):
            return item, event


class Earlier:
    """The event_ids sent so far on one connection, kept as they are sent (not rebuilt per update).

    An error echoing one of them is that event's (the judge pairs it there: checks/windows.py
    echoes_paired, unawaited_set_aside), never the answer to a later one: an id sent exactly once,
    or sent by an event that awaits no answer.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._unawaited: set[str] = set()

    def add(self, event_id: str | None, answered_by: Sequence[str]) -> None:
        if event_id is None:
            return
        self._counts[event_id] = self._counts.get(event_id, 0) + 1
        if not answered_by:
            self._unawaited.add(event_id)

    def claimer(self, own: str | None) -> Callable[[str | None], bool]:
        """Whether an echoed event_id belongs to an earlier event, for the update whose id is `own`."""

        def claimed(echo: str | None) -> bool:
            if echo is None or echo == own:
                return False
            return echo in self._unawaited or self._counts.get(echo) == 1

        return claimed


def _echo(event: dict[str, Any]) -> str | None:
    error = event.get("error")
    echoed = error.get("event_id") if isinstance(error, dict) else None
    return echoed if isinstance(echoed, str) else None


RETRYABLE = ("refused", "timeout", "handshake-failed")
#: A handshake that hangs costs a whole connect timeout each time: it is tried again once at most.
TIMEOUT_RETRIES = 1


async def connect(target: Target, budget: ByteBudget | None = None) -> Session | ConnectFailed:
    """Open a session, retrying a refused or timed-out connect a bounded number of times with backoff."""
    attempt = timeouts = 0
    while True:
        session = await open_session(target.url, target.auth, target.limits, target.ssl_context, budget)
        if not isinstance(session, ConnectFailed) or session.kind not in RETRYABLE:
            return session
        timeouts += session.kind == "timeout"
        if attempt >= target.politeness.connect_retries or timeouts > TIMEOUT_RETRIES:
            return session
        await asyncio.sleep(target.politeness.retry_backoff_s * 2**attempt)
        attempt += 1


class Seat(Protocol):
    """Where a connection stands in its run's pool: told when it only listens out, or waits out a
    timeout, so its concurrency slot can go to another connection meanwhile."""

    async def listen(self) -> None: ...

    def waiting(self) -> AbstractAsyncContextManager[None]: ...


#: Beyond the whole timeout, how long to keep listening, so the client's clock is surely past it.
MARGIN_S = 0.01


async def run_connection(
    plan: Plan,
    target: Target,
    log: RunLog | None = None,
    pacer: Pacer | None = None,
    seat: Seat | None = None,
    budget: ByteBudget | None = None,
    opened: Callable[[Session], None] = lambda _: None,
) -> Transcript | ConnectFailed | None:
    """Run one plan on a new connection; `seat` is told when it only listens out, or waits out a timeout
    (to free its slot meanwhile); `opened` gets the session, so a cancelled run keeps what it recorded.
    None: not connected, as no update could be heard out within the pacer's time budget."""
    if target.halt is not None and target.halt.is_set():
        return ConnectFailed("refused", "not connected: the run was interrupted")
    if pacer is not None and not pacer.room(target.limits.answer_s):  # session.created, then one update
        return None
    session = await connect(target, budget)
    if isinstance(session, ConnectFailed):
        return session
    opened(session)
    if log is not None and log.tls_fingerprint is None:
        log.tls_fingerprint = session.tls_fingerprint
    ahead = Ahead(target.contract or load_contract(), recorded(session, plan, target))
    try:
        last_sent = await _updates(session, plan, target, log, pacer, seat, ahead)
        ahead.take(session.frames)  # before listening out, what judging can do of it already
        if seat is not None:
            await seat.listen()
        until = time.monotonic() + target.settle_s
        if last_sent is not None and target.listen_out:
            until = max(until, last_sent + target.limits.answer_s + MARGIN_S)
        await _drain(session, until)
    finally:
        await session.close()
    if log is not None and session.closed is not None and session.closed.code in (1009, None):
        log.aborted.append(f"{plan.label}: {session.closed.reason}")
        if session.over_bound is not None:
            log.cut.append(Cut(plan.label, session.over_bound))
    return recorded(session, plan, target)


async def _updates(
    session: Session,
    plan: Plan,
    target: Target,
    log: RunLog | None,
    pacer: Pacer | None,
    seat: Seat | None,
    ahead: Ahead,
) -> float | None:
    """Await session.created, then send the plan's updates, each awaiting its answer: when the last was sent.
    While each answer is awaited, what was recorded before it is judged `ahead`."""
    timeout = target.limits.answer_s
    models = [*target.models, *sorted(url_models(target.url))]
    contract = target.contract or load_contract()  # the run's: its registry says what answers what
    created = await _wait_for(session, ("session.created",), timeout)
    announced = announced_model(created[1]) if isinstance(created, tuple) else None
    kind = announced_type(created[1].get("session") if isinstance(created, tuple) else None, contract)
    model = announced or (models[0] if models else None)
    if session.closed is not None and log is not None:
        log.aborted.append(f"{plan.label}: the target closed the connection before any update ({_why(session)})")
    earlier, last_sent = Earlier(), None
    upcoming = _Upcoming(plan, model, kind)
    await session.ready()  # what came with session.created (or late for it) is read before the first update
    for index in range(len(plan.updates)):
        if session.closed is not None or (pacer is not None and not await pacer.admit()):
            break
        text, parsed = upcoming.take(index)
        meanwhile = functools.partial(_meanwhile, session, ahead, upcoming, index + 1)
        sent, answered = await _exchange(session, text, parsed, target, log, pacer, earlier, contract, meanwhile)
        last_sent = sent if sent is not None else last_sent
        if not answered:
            break  # timed out, closed or throttled for good: later answers could not be paired
        if index in plan.wait_after and sent is not None and index + 1 < len(plan.updates):
            async with seat.waiting() if seat is not None else contextlib.nullcontext():
                await _drain(session, sent + timeout + MARGIN_S)
        await session.ready()
    return last_sent


class _Upcoming:
    """A plan's updates as they are sent: filled with what session.created announced (a replay's go
    byte for byte), each while the one before it is being answered (`prepare`), not in the round trip."""

    def __init__(self, plan: Plan, model: str | None, kind: str) -> None:
        self._plan, self._model, self._kind = plan, model, kind
        self._prepared: tuple[int, str, Any] | None = None

    def take(self, index: int) -> tuple[str, Any]:
        """Update `index` as it is sent, and its JSON value if filling parsed it (else None)."""
        prepared = self._prepared
        if prepared is not None and prepared[0] == index:
            self._prepared = None
            return prepared[1], prepared[2]
        return self._filled(index)

    def prepare(self, index: int) -> None:
        if index < len(self._plan.updates) and (self._prepared is None or self._prepared[0] != index):
            self._prepared = (index, *self._filled(index))

    def _filled(self, index: int) -> tuple[str, Any]:
        text = self._plan.updates[index]
        return (text, None) if self._plan.literal else filled(text, self._model, self._kind)


def _meanwhile(session: Session, ahead: Ahead, upcoming: _Upcoming, following: int) -> None:
    """What the runner does while an update is being answered: judge ahead what was recorded, and
    fill the update that follows."""
    ahead.take(session.frames)
    upcoming.prepare(following)


def recorded(session: Session, plan: Plan, target: Target) -> Transcript:
    return session.transcript(target.url, target.limits.answer_s, list(dict.fromkeys(target.models)), plan.label)


async def _exchange(
    session: Session,
    text: str,
    parsed: Any,
    target: Target,
    log: RunLog | None,
    pacer: Pacer | None,
    earlier: Earlier,
    contract: Contract,
    meanwhile: Callable[[], None],
) -> tuple[float | None, bool]:
    """Send one update, again while it is throttled: when it was last sent, and whether it was answered.
    `parsed`: its text's JSON value if it is known already (None: not parsed yet). The update's event_id
    goes into `earlier` (what an error may echo) once it was sent; `meanwhile` is done while it is answered."""
    timeout = target.limits.answer_s
    budget = target.politeness.throttle_budget_s
    budget = 10 * timeout if budget is None else budget
    backoff, throttled_since = timeout / 8, None
    sent: float | None = None
    for _ in range(1000):  # bounded anyway by the throttle budget
        frame = await session.send(text)
        sent = time.monotonic()  # the deadline starts when the send completed, as the judge counts it
        if isinstance(frame, Closed):
            return sent, False
        if parsed is not None:
            frame.knowing(parsed)
        sent_as = frame_sent(frame, contract)  # kept with the frame for judging
        own, answer_types = sent_as.event_id, sent_as.answers
        if not answer_types:
            earlier.add(own, answer_types)
            await asyncio.sleep(0)  # nothing to wait for (appended audio): the other connections' turn
            return sent, True
        meanwhile()  # while the target answers
        answer = await _wait_for(session, answer_types, timeout, frame.time, earlier.claimer(own))
        if not isinstance(answer, tuple):
            return sent, False
        if not is_throttle(answer[1]):
            earlier.add(own, answer_types)
            return sent, True
        throttled_since = sent if throttled_since is None else throttled_since
        if log is not None:
            log.throttled += 1
        if time.monotonic() + backoff - throttled_since > budget:
            why = f"the target throttled an update for {budget:g}s without letting it through"
            if pacer is not None:
                pacer.exhausted = pacer.exhausted or why
            elif log is not None:
                log.stopped = log.stopped or why
            return sent, False
        await asyncio.sleep(backoff)
        if log is not None:
            log.throttled_s += backoff
        backoff = min(backoff * 2, 2 * timeout)
        if pacer is not None and not await pacer.admit():
            return sent, False
    return sent, False


def _why(session: Session) -> str:
    closed = session.closed
    return f"code {closed.code}: {closed.reason}" if closed is not None else "open"


async def _drain(session: Session, deadline: float) -> None:
    """Keep receiving (and so recording) until the deadline (a monotonic time) or a close."""
    for _ in range(100_000):  # bounded by the deadline anyway
        if session.closed is not None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not isinstance(await session.receive(remaining), Frame):
            return

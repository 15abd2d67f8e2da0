"""Drive planned exchanges over the transport and collect one transcript per connection.

The runner knows what an answer is (the first `session.updated` or `error` after an update) so
it can stop waiting; judging what came back is left to `checks`, offline, from the transcript.
A connection whose answer did not come within the timeout is not used further: nothing that
follows on it could be paired with what was sent. After its last update a connection is kept
listening for the whole timeout, so a second or late answer within it is on the record; that
wait does not hold a concurrency slot. A rate-limit `error` is throttling, not an answer: the
update is sent again after a bounded exponential backoff.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.checks import awaited, is_throttle, url_models
from conformance.contract import load_contract
from conformance.contract.oracle import TYPE_PLACEHOLDER, announced_type
from conformance.generate.plan import MODEL_PLACEHOLDER as MODEL_PLACEHOLDER
from conformance.generate.plan import Plan as Plan
from conformance.transcript import Frame, Transcript, parse_json
from conformance.wire.transport import (
    Auth,
    ByteBudget,
    Closed,
    ConnectFailed,
    Limits,
    Session,
    Timeout,
    open_session,
)

#: Bytes a run may receive over all its connections. A whole certify run against a conforming server
#: receives a few hundred KB; the run is held in memory until judged, so this keeps a flooded run's
#: peak under 300 MB (tests/test_bounds_and_signals.py measures it).
MAX_RUN_BYTES = 64 << 20


@dataclass(frozen=True)
class Politeness:
    """Bounds that spare a shared server: rate, total exchanges, total time, connect retries.

    The time budget is a promise about the end: an update is sent only while its answer and the
    listening out after it still fit (an answer cut short would read as a missing one).
    """

    rate: float | None = None  # updates per second, over all connections
    max_exchanges: int | None = None
    budget_s: float | None = None
    connect_retries: int = 2
    retry_backoff_s: float = 0.5
    #: How long one update may stay throttled before the target is called untestable (None: ten
    #: answer timeouts); the backoff starts at an eighth of the timeout and doubles up to two.
    throttle_budget_s: float | None = None
    #: Connections that only listen out their last timeout, held open at once (beyond `concurrency`);
    #: bounded further by the open files the process may have (`listening_room`).
    max_listening: int = 4096


@dataclass(frozen=True)
class Target:
    """Where and how to connect, and the bounds of every wait."""

    url: str
    auth: Auth = field(default_factory=Auth)
    limits: Limits = field(default_factory=Limits)
    models: tuple[str, ...] = ()  # models the user says the target accepts
    settle_s: float = 0.1  # the least time to keep listening at the end (at least the timeout of the last update)
    ssl_context: ssl.SSLContext | None = None
    politeness: Politeness = field(default_factory=Politeness)
    max_run_bytes: int | None = MAX_RUN_BYTES
    halt: threading.Event | None = None  # set: open no more connections (an interrupted shrink)
    #: Keep listening the whole timeout after the last update (off only to measure what it costs).
    listen_out: bool = True


@dataclass(frozen=True)
class Cut:
    """A connection we ended before its plan was done: a byte bound passed, or the run interrupted."""

    connection: str
    reason: str


@dataclass
class RunLog:
    """What a run produced so far: kept whole even when the run stops early."""

    transcripts: list[Transcript] = field(default_factory=list)
    failure: ConnectFailed | None = None
    exchanges: int = 0
    tls_fingerprint: str | None = None
    aborted: list[str] = field(default_factory=list)  # connections the transport had to end
    stopped: str | None = None  # why plans were left unrun (budget, interruption)
    throttled: int = 0  # rate-limit errors the target answered updates with
    throttled_s: float = 0.0  # time spent backing off from them
    cut: list[Cut] = field(default_factory=list)
    received_bytes: int = 0
    unreached_connections: int = 0  # planned connections never opened (a budget, a stop)
    unsent_updates: int = 0  # planned updates never sent (those of unreached connections included)
    #: Where each finished connection goes, when set (judged and written at once: engine.Recorder),
    #: instead of `transcripts`; so a run holds no transcript longer than its connection lasts.
    sink: Callable[[Transcript], None] | None = field(default=None, repr=False, compare=False)

    def take(self, transcript: Transcript) -> None:
        self.exchanges += sent_updates(transcript)
        if self.sink is not None:
            self.sink(transcript)
        else:
            self.transcripts.append(transcript)


def sent_updates(transcript: Transcript) -> int:
    """How many updates a connection sent (its client text frames)."""
    return sum(1 for f in transcript.frames if f.direction == "client" and f.kind == "text")


def listening_room() -> int:
    """How many connections may listen at once within the open-file limit: two descriptors each
    (the embedded mock's end of the socket lives in this process too), a few hundred kept spare."""
    try:
        import resource  # POSIX only
    except ImportError:
        return 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 30 if soft == resource.RLIM_INFINITY else max(8, (soft - 256) // 2)


class Pacer:
    """Shared by all connections of a run: paces sends to the rate, and stops at the budget.

    `hear_out_s` is how long an update sent now may still need (its answer, then listening out):
    with a time budget, no update is sent that could not be heard out before the deadline.
    """

    def __init__(self, politeness: Politeness, hear_out_s: float = 0.0) -> None:
        self._politeness = politeness
        self._hear_out_s = hear_out_s
        self._deadline = time.monotonic() + politeness.budget_s if politeness.budget_s else None
        self._next = time.monotonic()
        self._sent = 0
        self.exhausted: str | None = None

    def room(self, ahead_s: float = 0.0) -> bool:
        """Whether an update sent `ahead_s` from now could still be heard out within the time budget."""
        if self._deadline is not None and time.monotonic() + ahead_s + self._hear_out_s > self._deadline:
            self.exhausted = self.exhausted or f"the time budget ({self._politeness.budget_s:g}s) is spent"
        return self.exhausted is None

    async def admit(self) -> bool:
        """Wait for the next send's turn; False once the budget of exchanges or time is spent."""
        p = self._politeness
        if p.max_exchanges is not None and self._sent >= p.max_exchanges:
            self.exhausted = f"the exchange budget ({p.max_exchanges}) is spent"
        wait = 0.0
        if p.rate:
            now = time.monotonic()
            wait = max(0.0, self._next - now)
        if not self.room(wait):
            return False
        self._sent += 1  # reserved before any wait, so concurrent connections cannot overshoot
        if p.rate:
            self._next = max(self._next, now) + 1.0 / p.rate
            await asyncio.sleep(wait)
        return True


def event_of(frame: Frame) -> dict[str, Any]:
    if frame.text is None:
        return {}
    try:
        event = parse_json(frame.text)
    except (ValueError, RecursionError):  # not JSON, or JSON this Python refuses
        return {}
    return event if isinstance(event, dict) else {}


def announced_model(event: dict[str, Any]) -> str | None:
    session = event.get("session")
    model = session.get("model") if isinstance(session, dict) else None
    return model if isinstance(model, str) else None


def with_type(text: str, kind: str) -> str:
    """Put the session type the opening session.created announced where a plan has the placeholder
    (in the text itself: the rest of the frame is sent exactly as planned)."""
    return text.replace(json.dumps(TYPE_PLACEHOLDER), json.dumps(kind))


def with_model(text: str, model: str | None) -> str:
    """Put the known model where a plan has the placeholder (or drop the field if none is known)."""
    if MODEL_PLACEHOLDER not in text:
        return text
    event = parse_json(text)
    session = event["session"]
    if model is None:
        del session["model"]
    else:
        session["model"] = model
    return json.dumps(event)


async def _wait_for(
    session: Session,
    types: Sequence[str],
    timeout_s: float,
    after: float = 0.0,
    others: Container[str | None] = (),
) -> tuple[Frame, dict[str, Any]] | Timeout | Closed:
    """Receive until a text frame of one of `types` arrives at `after` or later, on the connection's
    clock (it, and its event), or the deadline passes; an error echoing `others` (earlier events'
    event_id: appended audio, say) is theirs, not an answer to this one."""
    deadline = time.monotonic() + timeout_s
    while True:
        item = await session.receive(deadline - time.monotonic())
        if not isinstance(item, Frame):
            return item
        event = event_of(item)
        if event.get("type") in types and item.time >= after and _echo(event) not in others:
            return item, event


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


#: Beyond the whole timeout, how long to keep listening, so the client's clock is surely past it.
MARGIN_S = 0.01


async def run_connection(
    plan: Plan,
    target: Target,
    log: RunLog | None = None,
    pacer: Pacer | None = None,
    on_tail: Callable[[], Awaitable[None]] | None = None,
    budget: ByteBudget | None = None,
    opened: Callable[[Session], None] = lambda _: None,
) -> Transcript | ConnectFailed | None:
    """Run one plan on a new connection; `on_tail` is awaited when only the final listening is left
    (to free a slot); `opened` gets the session, so a cancelled run keeps what it recorded.
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
    timeout = target.limits.answer_s
    models = [*target.models, *sorted(url_models(target.url))]
    last_sent: float | None = None
    sent_ids: set[str | None] = set()  # the event_ids of sent events that await no answer
    try:
        created = await _wait_for(session, ("session.created",), timeout)
        announced = announced_model(created[1]) if isinstance(created, tuple) else None
        kind = announced_type(created[1].get("session") if isinstance(created, tuple) else None)
        if announced:
            models.append(announced)
        model = announced or (models[0] if models else None)
        if session.closed is not None and log is not None:
            log.aborted.append(f"{plan.label}: the target closed the connection before any update ({_why(session)})")
        for index, text in enumerate(plan.updates):
            if session.closed is not None or (pacer is not None and not await pacer.admit()):
                break
            text = with_type(with_model(text, model), kind)
            sent, answered = await _exchange(session, text, target, log, pacer, sent_ids)
            if not awaited(text, load_contract()):  # an error echoing it is its own, never an answer
                sent_ids.add(event_id_of(text))
            last_sent = sent if sent is not None else last_sent
            if not answered:
                break  # timed out, closed or throttled for good: later answers could not be paired
            if index in plan.wait_after and sent is not None and index + 1 < len(plan.updates):
                await _drain(session, sent + timeout + MARGIN_S)
            await session.ready()
        if on_tail is not None:
            await on_tail()
        until = time.monotonic() + target.settle_s
        if last_sent is not None and target.listen_out:
            until = max(until, last_sent + timeout + MARGIN_S)
        await _drain(session, until)
    finally:
        await session.close()
    if log is not None and session.closed is not None and session.closed.code in (1009, None):
        log.aborted.append(f"{plan.label}: {session.closed.reason}")
        if session.over_bound is not None:
            log.cut.append(Cut(plan.label, session.over_bound))
    return recorded(session, plan, target)


def recorded(session: Session, plan: Plan, target: Target) -> Transcript:
    return session.transcript(target.url, target.limits.answer_s, list(dict.fromkeys(target.models)), plan.label)


def event_id_of(text: str) -> str | None:
    try:
        event = parse_json(text)
    except (ValueError, RecursionError):
        return None
    event_id = event.get("event_id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) else None


async def _exchange(
    session: Session, text: str, target: Target, log: RunLog | None, pacer: Pacer | None, others: set[str | None]
) -> tuple[float | None, bool]:
    """Send one update, again while it is throttled: when it was last sent, and whether it was answered."""
    timeout = target.limits.answer_s
    budget = target.politeness.throttle_budget_s
    budget = 10 * timeout if budget is None else budget
    backoff, throttled_since = timeout / 8, None
    sent: float | None = None
    answer_types = awaited(text, load_contract())  # the event registry: what answers this event
    for _ in range(1000):  # bounded anyway by the throttle budget
        frame = await session.send(text)
        sent = time.monotonic()  # the deadline starts when the send completed, as the judge counts it
        if isinstance(frame, Closed):
            return sent, False
        if not answer_types:
            return sent, True  # nothing answers it (appended audio): nothing to wait for
        own = event_id_of(text)
        answer = await _wait_for(session, answer_types, timeout, frame.time, others - {own, None})
        if not isinstance(answer, tuple):
            return sent, False
        if not is_throttle(answer[1]):
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


def not_reached(log: RunLog, planned: int) -> str:
    """What a stopped run left undone, in words (console and summary)."""
    return (
        f"{log.unreached_connections} of {planned} planned connections not opened, "
        f"{log.unsent_updates} planned updates not sent"
    )


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


async def run_plans(
    plans: Iterable[Plan],
    target: Target,
    concurrency: int = 1,
    on_done: Callable[[Transcript], Awaitable[None] | None] | None = None,
    log: RunLog | None = None,
) -> RunLog:
    """Run every plan (up to `concurrency` connections at once) into `log`.

    Stops at the first connect failure, or when the budget is spent. Transcripts land in plan order
    whatever the concurrency (a seed gives one result), and those finished are kept even when the
    run is cancelled (Ctrl-C). A fixed pool of workers pulls the plans one at a time, so tasks and
    state in flight are bounded by the concurrency, not by the run's size (`plans` may be read lazily).
    """
    log = log if log is not None else RunLog()
    source = enumerate(plans)
    kept: dict[int, Transcript | ConnectFailed] = {}  # results not handed to a sink, merged in plan order
    started: dict[int, Plan] = {}  # plans taken from the source, in flight or with a result kept above
    planned = [0]  # plans taken from the source so far
    semaphore = asyncio.Semaphore(max(1, concurrency))
    # Connections that only listen out their last timeout hold a slot of their own, bounded apart.
    listening = asyncio.Semaphore(max(1, min(target.politeness.max_listening, listening_room())))
    stop = asyncio.Event()
    pacer = Pacer(target.politeness, target.limits.answer_s + MARGIN_S + target.limits.close_s)
    budget = ByteBudget(target.max_run_bytes)
    sessions: dict[int, Session] = {}

    async def one(index: int, plan: Plan, held: list[asyncio.Semaphore]) -> None:
        async def on_tail() -> None:
            await listening.acquire()
            held.append(listening)
            semaphore.release()
            held.remove(semaphore)
            spawn()  # its connection slot is free: a new worker takes the next plan

        try:
            result = await run_connection(
                plan, target, log, pacer, on_tail, budget, lambda s: sessions.update({index: s})
            )
        except asyncio.CancelledError:  # Ctrl-C: what this connection recorded is kept, marked as cut
            if index in sessions:  # (run_connection closed it on its way out)
                kept[index] = recorded(sessions.pop(index), plan, target)
                log.cut.append(Cut(plan.label, "interrupted"))
            raise
        sessions.pop(index, None)  # done: only connections in flight are kept for a cancelled run
        if isinstance(result, Transcript) and log.sink is not None:  # judged and written now, not held
            del started[index]
            log.unsent_updates += max(0, len(plan.updates) - sent_updates(result))
            log.take(result)
        elif result is not None:
            kept[index] = result
        if isinstance(result, ConnectFailed):
            stop.set()
        elif result is not None and on_done is not None:
            maybe = on_done(result)
            if maybe is not None:
                await maybe

    async def worker() -> None:
        """Takes the next plan once it holds a connection slot, so plans start in plan order."""
        for _ in range(1 << 62):  # bounded by the plans
            held = [semaphore]
            await semaphore.acquire()
            try:
                if stop.is_set() or pacer.exhausted or budget.exhausted:
                    return
                taken = next(source, None)
                if taken is None:
                    return
                index, plan = taken
                started[index] = plan
                planned[0] = index + 1
                await one(index, plan, held)
                if listening in held:  # replaced by a new worker when it began listening out
                    return
            finally:
                for lock in held:
                    lock.release()

    # Workers: one per connection slot, and one more for each connection listening out its tail.
    live: set[asyncio.Future[None]] = set()
    errors: list[BaseException] = []
    ended = asyncio.Event()  # a worker ended: the run may be over, or have failed

    def finished(task: asyncio.Future[None]) -> None:
        live.discard(task)  # done workers are dropped: the pool stays as large as what is in flight
        if not task.cancelled() and task.exception() is not None:
            errors.append(task.exception())  # type: ignore[arg-type]
        ended.set()

    def spawn() -> None:
        task = asyncio.ensure_future(worker())
        live.add(task)
        task.add_done_callback(finished)

    for _ in range(max(1, concurrency)):
        spawn()
    try:
        for _ in range(1 << 62):  # bounded by the plans: each pass waits for a worker to end
            if errors or not live:
                break
            ended.clear()
            await ended.wait()
        if errors:
            raise errors[0]
    except BaseException:  # cancelled (Ctrl-C) or a bug: the connections in flight record what they had first
        for task in list(live):
            task.cancel()
        if live:
            await asyncio.wait(set(live), timeout=target.limits.close_s + 1)
        raise
    finally:
        for index in sorted(started):
            plan, result = started[index], kept.get(index)
            if isinstance(result, Transcript):
                log.unsent_updates += max(0, len(plan.updates) - sent_updates(result))
                log.take(result)
            else:
                log.unreached_connections += 1
                log.unsent_updates += len(plan.updates)
                if isinstance(result, ConnectFailed) and log.failure is None:
                    log.failure = result
        for index, plan in source:  # never started: counted, not held
            planned[0] = index + 1
            log.unreached_connections += 1
            log.unsent_updates += len(plan.updates)
        if pacer.exhausted:
            log.stopped = f"{pacer.exhausted}: {not_reached(log, planned[0])}"
        elif budget.exhausted:
            log.stopped = f"the run's byte bound ({budget.limit} bytes received) was reached"
        log.received_bytes += budget.received
    return log

"""Parse one transcript into a `Connection`: judge each server frame, then pair each awaited
client event with its answers (an explicit table of what the server holds after each step).

What a client event awaits comes from the event registry: a client event with no answer (appended
audio) opens no step, and an `error` that may be its answer is attributed as `windows` says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.checks.connection import Connection, Event, Received, Step, is_bad, surplus
from conformance.checks.findings import Violation
from conformance.checks.frames import judge_server_frame
from conformance.checks.windows import (
    Position,
    Window,
    echoes_paired,
    order_pairable,
    throttles_merged,
    unawaited_set_aside,
    windows_of,
)
from conformance.contract import Contract
from conformance.contract.oracle import DEFAULT_SESSION_TYPE, Classification, Context, classify_event
from conformance.frozen import fast_init
from conformance.transcript import Frame, Transcript


def session_fields(contract: Contract) -> frozenset[str]:
    """The documented top-level RealtimeSession fields (the schema's properties) but those the server
    manages (openai's expiry time): spec-notes' patch rule leaves those to the server. `id` and `object`
    stay (the session's id is stable; `object` changes only with a type switch, which the rule exempts)."""
    properties = contract.schemas["realtime-session.json"]["properties"]
    return frozenset(properties) - contract.server_managed


def carriers(contract: Contract) -> dict[str, frozenset[str]]:
    """For each top-level member of a server event, the events documented to carry it."""
    out: dict[str, set[str]] = {}
    for event in contract.server_events:
        for member in contract.schemas[contract.registry.event(event).schema].get("properties", {}):
            out.setdefault(member, set()).add(event)
    return {member: frozenset(events) for member, events in out.items()}


def url_models(url: str) -> set[str]:
    """The model named by the URL's `model` query, which the target therefore accepts."""
    return set(parse_qs(urlsplit(url).query).get("model", []))


def opening_context(transcript: Transcript, created: dict[str, Any] | None) -> Context:
    """What the connection established: only the session.created that opened it, the URL and --model
    say which model is accepted and which session type an update may set (never an answer)."""
    models = set(transcript.models) | url_models(transcript.url)
    if created is not None and isinstance(created.get("model"), str):
        models.add(created["model"])
    return Context(frozenset(models), created.get("type", DEFAULT_SESSION_TYPE) if created else DEFAULT_SESSION_TYPE)


@fast_init
@dataclass(frozen=True)
class Sent:
    """A client text frame as the registry sees it: the event it is judged as, and what answers it."""

    event: str
    answers: tuple[str, ...]
    event_id: str | None


def sent_of(data: Any, contract: Contract) -> Sent:
    """A client frame's JSON value (None: not JSON) as the registry sees it: what the runner waits for
    after sending it (none for appended audio), from the same registry the judge pairs by. A frame that
    is no registered client event (not JSON, an unknown type) is judged as the registry's fallback
    event: an invalid one of it, which the server must reject."""
    event_type = data.get("type") if isinstance(data, dict) else None
    event_id = data.get("event_id") if isinstance(data, dict) else None
    registered = contract.registry.get(event_type)
    if registered is None or registered.direction != "client":
        registered = contract.registry.fallback
    return Sent(registered.name, registered.answers, event_id if isinstance(event_id, str) else None)


def frame_judged(
    frame: Frame, contract: Contract, explain: bool = True
) -> tuple[list[Violation], frozenset[str], Received, Event | None]:
    """`judge_server_frame`, with the frame's event, kept with the frame (`Frame.derived`): done once,
    ahead or here (without `explain`, an invalid event raises `Unexplained` and nothing is kept)."""

    def judged() -> tuple[list[Violation], frozenset[str], Received, Event | None]:
        found, exercised, received, data = judge_server_frame(frame, contract, explain)
        event = Event(frame, data, frozenset(v.path for v in found)) if data is not None else None
        return found, exercised, received, event

    return frame.derived("judged", (contract,), judged)


def frame_sent(frame: Frame, contract: Contract) -> Sent:
    """`sent_of` a client text frame, kept with the frame (its text parsed once: `Frame.json`)."""
    return frame.derived("sent", (contract,), lambda: sent_of(_json_or_none(frame), contract))


def _json_or_none(frame: Frame) -> Any:
    try:
        return frame.json()
    except (ValueError, RecursionError):  # json.JSONDecodeError is a ValueError
        return None


def frame_classified(frame: Frame, contract: Contract, context: Context) -> Classification:
    """`classify_event` of a client text frame in `context`, kept with the frame for that context."""
    text = frame.text or ""
    return frame.derived("classified", (contract, context), lambda: classify_event(text, contract, context))


@dataclass(frozen=True)
class Parsed:
    """One pass over the frames: the server events, the positions to pair, what their schemas found."""

    events: tuple[Event, ...]
    positions: tuple[Position, ...]
    sent: dict[int, Sent]
    server_close: Frame | None
    violations: tuple[Violation, ...]
    exercised: Counter[str]
    received: tuple[Received, ...]


class JudgingStopped(Exception):
    """Judging was stopped between two frames (`judge`'s `stopped`): its judgement is dropped."""


def read_frames(transcript: Transcript, contract: Contract, stopped: Callable[[], bool] = lambda: False) -> Parsed:
    """Judge every server event by its schema and list what happened, in order (a hostile target's frames
    can take a tenth of a second each: `stopped()` is asked before each server frame)."""
    events: list[Event] = []
    positions: list[Position] = []
    sent: dict[int, Sent] = {}
    violations: list[Violation] = []
    judged_sets: Counter[frozenset[str]] = Counter()  # each event type's requirements, counted once per event
    received: list[Received] = []
    client_close: Frame | None = None
    server_close: Frame | None = None
    for frame in transcript.frames:
        if frame.direction == "client":
            if frame.kind == "text":
                sent[id(frame)] = frame_sent(frame, contract)
                positions.append(("send" if sent[id(frame)].answers else "unawaited", frame))
            elif frame.kind == "close" and client_close is None:
                client_close = frame
                positions.append(("client-close", frame))
        elif frame.kind == "close":
            if server_close is None and client_close is None:
                server_close = frame
                positions.append(("server-close", frame))
        else:
            if stopped():
                raise JudgingStopped
            found, judged, as_received, event = frame_judged(frame, contract)
            violations += found
            judged_sets[judged] += 1
            received.append(as_received)
            if event is not None:
                events.append(event)
                positions.append(("event", event))
    exercised: Counter[str] = Counter()
    for ids, count in judged_sets.items():
        for requirement in ids:
            exercised[requirement] += count
    return Parsed(tuple(events), tuple(positions), sent, server_close, tuple(violations), exercised, tuple(received))


def paired_windows(parsed: Parsed, contract: Contract, end_time: float, timeout_s: float) -> list[Window]:
    ids = {key: s.event_id for key, s in parsed.sent.items()}
    answers = {key: s.answers for key, s in parsed.sent.items()}
    windows = echoes_paired(windows_of(list(parsed.positions), end_time, ids, answers))
    unawaited = [(item, ids[id(item)]) for kind, item in parsed.positions if kind == "unawaited"]
    windows = unawaited_set_aside(windows, unawaited, contract.registry.any_answers, timeout_s)
    return throttles_merged(windows)


def parse_connection(
    transcript: Transcript, contract: Contract, stopped: Callable[[], bool] = lambda: False
) -> tuple[Connection, Parsed]:
    """The connection's steps, each with its own answers and the configuration it was sent over."""
    parsed = read_frames(transcript, contract, stopped)
    events = parsed.events
    sends = [item for kind, item in parsed.positions if kind == "send"]
    created = next((e for e in events if e.type == "session.created" and e.session is not None), None)
    effective = created.session if created is not None and (not sends or created.frame.time <= sends[0].time) else None
    opening = effective
    end_time = transcript.frames[-1].time if transcript.frames else 0.0
    timeout = transcript.timeout_s
    windows = paired_windows(parsed, contract, end_time, timeout)
    clean = [i == 0 or w.sent.time - windows[i - 1].sent.time >= timeout for i, w in enumerate(windows)]
    ids = [w.event_id for w in windows]
    counts = Counter(ids)  # linear: ids.count per window was quadratic in a connection's updates
    own_ids = [i if counts[i] == 1 else None for i in ids]
    updating = [f for f in sends if "session.updated" in parsed.sent[id(f)].answers]
    extra = surplus(events, updating)
    certain = order_pairable(windows, own_ids, clean, extra)
    context = opening_context(transcript, effective)
    steps: list[Step] = []
    since_error: Step | None = None
    for index, window in enumerate(windows):
        own_id = own_ids[index]
        step = Step(
            sent=window.sent,
            event=parsed.sent[id(window.sent)].event,
            answer_types=window.answer_types,
            classification=frame_classified(window.sent, contract, context),
            events=tuple(sorted(window.events, key=_arrival) if len(window.events) > 1 else window.events),
            end=window.end,
            server_close=window.close,
            timeout_s=timeout,
            before=effective,
            since_error=since_error,
            clean=clean[index] and not window.ambiguous,
            certain=(clean[index] or certain[index]) and not window.ambiguous,
            paired=certain[index],
            ambiguous=window.ambiguous,
            echoed=() if own_id is None else tuple(e for e in window.events if e.echo == own_id),
        )
        steps.append(step)
        since_error = step if step.rejected else None
        effective, context = after(step, effective, context)
    connection = Connection(
        transcript,
        events,
        tuple(steps),
        parsed.server_close,
        sends[0].time if sends else None,
        tuple(updating),
        session_fields(contract),
        contract.aliases,
        opening,
        parsed.received,
        carriers(contract),
        extra,
    )
    return connection, parsed


def _arrival(event: Event) -> float:
    return event.frame.time


def after(step: Step, effective: dict[str, Any] | None, context: Context) -> tuple[dict[str, Any] | None, Context]:
    """What the server holds after a step (the state table): the answer's session when it accepted
    for certain; unchanged when it rejected for certain; unknown otherwise."""
    kinds = step.kinds_in_time
    if "session.updated" not in step.answer_types:
        return effective, context  # an event that does not change the configuration
    if step.certain and kinds == {"session.updated"}:
        answer = step.updated[0]
        held = answer.session
        if held is not None and answer.bad_paths:
            # a field whose value broke its own requirement is no value the next answers must keep: that
            # was reported once, where it was shown (one defect, one violation)
            held = {key: value for key, value in held.items() if not is_bad(answer.bad_paths, key)}
        return held, context.after_accepting(step.classification)
    if step.certain and kinds == {"error"}:
        return effective, context
    # accepted and rejected at once, no answer in time, or answers not paired for certain:
    # what the server holds is unknown, and whether it switched the session type too
    return None, context.after_accepting(step.classification)

"""One connection parsed for the exchange checks: its server events, and a step per awaited
client event with the events that are its own (see `pairing` for how they are found)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from conformance.contract.oracle import Classification
from conformance.frozen import fast_init
from conformance.transcript import Frame, Transcript

#: An `error` whose code or type names a rate limit: the target throttled, it did not reject.
THROTTLE = re.compile(r"rate.?limit|too.?many.?requests|throttl|resource.?exhausted|quota", re.IGNORECASE)


T = TypeVar("T")


class cached(Generic[T]):
    """`functools.cached_property` without its lock, which Python 3.11 takes on each first read: judging
    reads several on every step, from one thread, and the lock cost a few µs an exchange. Python 3.12
    dropped the lock; this can go with 3.11."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func, self.name = func, func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@fast_init
@dataclass(frozen=True, eq=False)
class Event:
    """A server event on the connection, with the paths its event checks found broken. Equal only to itself:
    two events are the same when they are the same arrival (an equal frame sent twice is two events), and
    judging looks events up in lists (`in`, `remove`), which compared each one field by field."""

    frame: Frame
    data: dict[str, Any]
    bad_paths: frozenset[str]
    type: Any = field(init=False)
    session: dict[str, Any] | None = field(init=False, repr=False, compare=False)
    #: The client `event_id` an `error` names as its cause (`error.event_id`).
    echo: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # read once here: the pairing and every check ask them of each event
        data, found = self.data, self.__dict__  # frozen: set as dataclasses' own __init__ sets its fields
        kind, session, error = data.get("type"), data.get("session"), data.get("error")
        found["type"] = kind
        found["session"] = session if isinstance(session, dict) else None
        found["echo"] = error.get("event_id") if kind == "error" and isinstance(error, dict) else None


@fast_init
@dataclass(frozen=True)
class Received:
    """A server frame other than a close, as the wire checks see it."""

    frame: Frame
    #: Why its text is not an event (not JSON, not an object), for a text frame that is not one.
    not_an_event: str | None = None


def is_bad(bad: frozenset[str], key: str) -> bool:
    """Whether an answer's own checks found `session.<key>` (or something inside it) broken."""
    path = f"session.{key}"
    return any(p == path or p.startswith(path + ".") for p in bad)


def is_throttle(event: Mapping[str, Any]) -> bool:
    """Whether an event is a rate-limit `error`: the target asks the client to slow down."""
    error = event.get("error")
    if event.get("type") != "error" or not isinstance(error, dict):
        return False
    return any(isinstance(error.get(k), str) and THROTTLE.search(error[k]) for k in ("code", "type"))


@fast_init
@dataclass(frozen=True)
class Step:
    """One sent client event that awaits an answer, and what the server sent for it.

    Its events are those between this send and the next awaited one, except that an `error`
    echoing another event's `event_id` belongs to that one, wherever it arrived.
    """

    sent: Frame
    event: str  # the registered client event it is judged as
    answer_types: tuple[str, ...]  # what answers it (the event registry)
    classification: Classification
    events: tuple[Event, ...]
    end: float
    server_close: Frame | None
    timeout_s: float
    before: dict[str, Any] | None  # the effective configuration when it was sent, when known
    since_error: Step | None
    #: No earlier event could still be answered while this one was awaited (it is the first, or
    #: the client waited out the whole timeout of the previous one), so all it got is its own.
    clean: bool = False
    #: Every answer in its window is its own and all its own answers are there: it is clean, or no
    #: window since the last clean one (up to the next) holds more than one answer, so order pairs them.
    certain: bool = True
    #: Order pairs its window with its answers: no window since the last clean one (up to the next) holds
    #: more than one answer (`certain` without the clean case).
    paired: bool = True
    #: Its window cannot be told from another's (the same event_id sent twice, say): nothing in it is certain.
    ambiguous: bool = False
    #: The `error` events echoing its `event_id` (no other event sent that id): its own, however
    #: uncertain the rest of its window is.
    echoed: tuple[Event, ...] = ()

    #: Its events by type, its answers and those in time: what nearly every check asks of every step, found
    #: in one pass over its events when it is made (asked one at a time, each cost a call and a list a step).
    updated: list[Event] = field(init=False, repr=False, compare=False)
    errors: list[Event] = field(init=False, repr=False, compare=False)
    answers: list[Event] = field(init=False, repr=False, compare=False)
    #: Its `session.updated` events that came within the timeout for certain (`surely_in_time`), as the next
    #: three: what came maybe after it is not taken as in time, nor, where it may have come in time, as late.
    updated_in_time: list[Event] = field(init=False, repr=False, compare=False)
    #: The types of its answers that came within the timeout.
    kinds_in_time: frozenset[Any] = field(init=False, repr=False, compare=False)
    #: Its in-time errors that may be its own: not a rate limit, and naming no other event_id.
    own_errors: list[Event] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        updated: list[Event] = []
        errors: list[Event] = []
        answers: list[Event] = []
        updated_in_time: list[Event] = []
        own_errors: list[Event] = []
        kinds_in_time: set[Any] = set()
        own, sent, timeout_s = self.classification.event_id, self.sent.earliest_time, self.timeout_s
        for event in self.events:
            kind = event.type
            in_time = event.frame.time - sent <= timeout_s  # `surely_in_time`: these back flaws as well as passes
            if kind == "session.updated":
                updated.append(event)
                if in_time:
                    updated_in_time.append(event)
            elif kind == "error":
                errors.append(event)
                if in_time and not is_throttle(event.data) and (not isinstance(event.echo, str) or event.echo == own):
                    own_errors.append(event)
            if kind in self.answer_types:
                answers.append(event)
                if in_time:
                    kinds_in_time.add(kind)
        found = self.__dict__  # frozen: set as dataclasses' own __init__ sets its fields
        found["updated"], found["errors"], found["answers"] = updated, errors, answers
        found["updated_in_time"], found["own_errors"] = updated_in_time, own_errors
        found["kinds_in_time"] = frozenset(kinds_in_time)

    def of_type(self, event_type: str) -> list[Event]:
        if event_type == "session.updated":
            return self.updated
        if event_type == "error":
            return self.errors
        return [e for e in self.events if e.type == event_type]

    def in_time(self, event: Event) -> bool:
        """Whether it may have come within the timeout (its earliest arrival did, after the update's send was
        recorded): else it is late for certain."""
        return event.frame.earliest_time - self.sent.time <= self.timeout_s

    def surely_in_time(self, event: Event) -> bool:
        """Whether it came within the timeout for certain: read within it of the earliest the update may have
        left (`Frame.earliest`: where our process paused, or waited on a poll, a frame came between the two)."""
        return event.frame.time - self.sent.earliest_time <= self.timeout_s

    @cached
    def answered_in_time(self) -> bool:
        """Whether an answer came within the timeout for certain."""
        return bool(self.kinds_in_time)

    @cached
    def answer(self) -> Event | None:
        """The first answer: what a client waiting on this event takes."""
        return self.answers[0] if self.answers else None

    @cached
    def waited_out(self) -> bool:
        """Whether the client waited the whole timeout (or the server closed) for this step."""
        return self.server_close is not None or self.end - self.sent.time >= self.timeout_s

    @cached
    def complete(self) -> bool:
        """No answer of its own can be outside its window: order pairs the windows, or the client waited out
        its timeout. (A clean step that the client left at its first answer may have a second one of its
        own, an error after a session.updated, in the next window: what it got proves no absence.)"""
        return (self.paired or self.waited_out) and not self.ambiguous

    @cached
    def silent(self) -> bool:
        """Nothing answered it: no answer in its window, which it waited out. Certain, whatever
        else happened on the connection (an answer to it cannot arrive before it was sent)."""
        return not self.answers and self.waited_out

    @cached
    def rejected(self) -> bool:
        """Its own answers that are certain are errors only: its in-time answers, when it is
        certain; else the errors echoing its event_id, when nothing else came in its window."""
        if self.certain:
            return self.kinds_in_time == {"error"}
        return bool(self.echoed) and len(self.answers) == len(self.echoed)


@dataclass(frozen=True)
class Connection:
    """One transcript, parsed once: its events, its steps and what the server announced."""

    transcript: Transcript
    events: tuple[Event, ...]
    steps: tuple[Step, ...]
    server_close: Frame | None
    first_send: float | None
    sends: tuple[Frame, ...] = ()  # every awaited client frame, throttled attempts included
    fields: frozenset[str] = frozenset()  # the documented top-level RealtimeSession fields
    aliases: tuple[tuple[str, str], ...] = ()
    created: dict[str, Any] | None = None  # the session session.created announced before any update
    received: tuple[Received, ...] = ()  # every server frame but a close, in order
    #: The server events documented to carry a member (`session`, `error`), from their schemas.
    carriers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The first `session.updated` that outnumbers the updates sent before it (`surplus` of the events and
    #: `sends`), found once by the pairing, which needs it too.
    surplus: Event | None = None

    @cached
    def sorted_fields(self) -> tuple[str, ...]:
        return tuple(sorted(self.fields))

    @cached
    def alias_tops(self) -> dict[str, frozenset[str]]:
        """For each top-level field on a side of an alias pair, the top-level fields of every pair it is on
        (an update setting either side may change both)."""
        out: dict[str, set[str]] = {}
        for pair in self.aliases:
            tops = {path.split(".")[0] for path in pair}
            for top in tops:
                out.setdefault(top, set()).update(tops)
        return {top: frozenset(tops) for top, tops in out.items()}

    def carries(self, event_type: Any, member: str) -> bool:
        """Whether events of `event_type` are documented to carry `member`. An event's type is whatever JSON
        its server sent (an object, a list): one that is no string is no documented event's."""
        return isinstance(event_type, str) and event_type in self.carriers.get(member, ())

    @cached
    def certain(self) -> tuple[Step, ...]:
        """The steps whose answers are paired for certain: the only ones the pairing checks judge."""
        return tuple(step for step in self.steps if step.certain)

    @cached
    def unanswered_decided(self) -> bool:
        """Whether a valid or invalid update got no answer in time (read once a connection, not once a step)."""
        return any(s.classification.kind != "undetermined" and s.waited_out and not s.kinds_in_time for s in self.steps)

    @cached
    def timely_before_error(self) -> bool:
        """Whether the server answered in time, for certain, the updates sent before the first one it rejected
        (all of them, a valid one among them): what shows that silence after the error on a valid update is the
        error's doing. Undetermined ones alone show nothing of that: a server may answer at once an update it
        applies as nothing, and take its time over one that reconfigures the session."""
        first = self.first_rejection
        before = [s for s in self.steps if first is not None and s.sent.time < first]
        valid = any(s.classification.kind == "valid" for s in before)
        return valid and all(s.answered_in_time for s in before)

    @cached
    def first_rejection(self) -> float | None:
        """When the first update the server rejected was sent, if it rejected one."""
        return next((s.sent.time for s in self.steps if s.rejected), None)

    @cached
    def unpaired(self) -> int:
        """How many steps could not be paired for certain (what the summary reports as unjudged)."""
        return len(self.steps) - len(self.certain)


def surplus(events: Iterable[Event], sends: tuple[Frame, ...] | list[Frame]) -> Event | None:
    """The first `session.updated` that outnumbers the updates sent before it, if any.

    Each update gets at most one, so this one proves that some update got two (or that the
    server sent one unasked), whichever window it fell in. One sent before any update answers
    none (a server may announce its configuration at connect): it is not counted.
    """
    count = 0
    sent_at = sorted(frame.time for frame in sends)  # counted by bisection: linear in the connection
    for event in events:
        if event.type == "session.updated" and sent_at and event.frame.time > sent_at[0]:
            count += 1
            if count > bisect.bisect_right(sent_at, event.frame.time):
                return event
    return None

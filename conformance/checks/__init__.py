"""Checks: pure functions from frames and events to violations, each naming a requirement ID.

Event checks judge one server event against its schema; every schema error is mapped to the
requirement whose `path` (and JSON Schema keyword) it falls under, so a field's type lives in
the schema only. Exchange checks judge one connection's transcript: each is a small named
function with one signature, registered in `EXCHANGE_CHECKS`. No I/O here.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from jsonschema.exceptions import ValidationError

from conformance.contract import SERVER_EVENT_TYPES, Contract, Requirement
from conformance.contract.oracle import DEFAULT_SESSION_TYPE, Classification, Context, classify, without_path
from conformance.transcript import Frame, Transcript, json_text, parse_json

ANSWER_TYPES = ("session.updated", "error")
#: An `error` whose code or type names a rate limit: the target throttled, it did not reject.
THROTTLE = re.compile(r"rate.?limit|too.?many.?requests|throttl|resource.?exhausted|quota", re.IGNORECASE)
#: The requirements judged per frame by `check_frame`, before any frame is parsed as an event.
FRAME_REQUIREMENTS = ("WIRE-TEXT-FRAME", "WIRE-JSON-OBJECT")


@dataclass(frozen=True)
class Violation:
    """One broken requirement, with the frame it was found in and the client frame it answers."""

    requirement: str
    path: str
    message: str
    received: Frame | None = None
    sent: Frame | None = None
    connection: str = ""  # the label of the transcript it was found in
    #: A requirement whose violation elsewhere in the run explains this one as well; it is then
    #: reported under that one (one defect, one violation).
    explained_by: str = ""


@dataclass
class Judgement:
    """What judging produced: violations, and how often each requirement was exercised."""

    violations: list[Violation] = field(default_factory=list)
    exercised: Counter[str] = field(default_factory=Counter)
    exchanges: int = 0
    #: Why a requirement's condition never arose (a server may omit an optional field), by ID.
    not_applicable: dict[str, str] = field(default_factory=dict)
    #: Exchanges whose answers could not be told apart from another update's (an extra or late
    #: answer in reach): the checks that pair an answer with its update did not judge them.
    unpaired: int = 0

    def add(self, other: Judgement) -> None:
        self.violations += other.violations
        self.exercised.update(other.exercised)
        self.exchanges += other.exchanges
        self.unpaired += other.unpaired
        for requirement, why in other.not_applicable.items():
            self.not_applicable.setdefault(requirement, why)


# --------------------------------------------------------------------------- event checks


def describe_value(value: Any, limit: int = 60) -> str:
    text = json_text(value)  # json.dumps, but integers beyond Python's str() limit do not crash it
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__


def _error_message(error: ValidationError, path: str) -> str:
    value, keyword, expected = error.instance, error.validator, cast(Any, error.validator_value)
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"{path} is {json_type(value)} {describe_value(value)}; expected {wanted}"
    if keyword == "enum":
        return f"{path} is {describe_value(value)}; expected one of {', '.join(map(str, expected))}"
    if keyword == "const":
        return f"{path} is {describe_value(value)}; expected {describe_value(expected)}"
    if keyword == "minLength":
        return f"{path} is an empty string; expected a non-empty string"
    if keyword == "pattern":
        return f"{path} is {describe_value(value)}; expected a string matching {expected}"
    return f"{path}: {error.message}"


def _error_paths(error: ValidationError) -> Iterator[tuple[str, str]]:
    """(dotted path, message) for each field an error is about; `required` names its children."""
    base = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in cast(list[str], error.validator_value):
            if name not in error.instance:
                path = f"{base}.{name}" if base else name
                yield path, f"{path} is missing"
        return
    path = base or "(event)"
    yield path, _error_message(error, path)


def requirement_for(contract: Contract, event_type: str, path: str, keyword: str) -> Requirement:
    """The requirement a schema error at `path` falls under: the longest matching path."""
    best: Requirement | None = None
    for req in contract.requirements:
        if event_type not in req.events or (req.keywords and keyword not in req.keywords):
            continue
        matches = path == req.path or path.startswith(req.path + ".")
        if matches and (best is None or len(req.path) > len(best.path)):
            best = req
    if best is None:
        raise LookupError(f"no requirement of {event_type} covers {keyword!r} at {path}")
    return best


def check_event(
    event: Mapping[str, Any], contract: Contract, as_type: str | None = None, frame: Frame | None = None
) -> list[Violation]:
    """Judge one server event against the schema of its type (or of `as_type`).

    Unknown event types are not judged (a server may send other events); unknown fields are
    never a violation.
    """
    event_type = as_type or event.get("type")
    if event_type not in SERVER_EVENT_TYPES:
        return []
    assert isinstance(event_type, str)
    if contract.fast[event_type].is_valid(event):
        return []
    violations: list[Violation] = []
    for error in contract.validators[event_type].iter_errors(event):
        for path, message in _error_paths(error):
            req = requirement_for(contract, event_type, path, str(error.validator))
            violations.append(Violation(req.id, path, message, frame))
    return violations


def event_requirements(contract: Contract, event_type: str) -> list[str]:
    """The requirements that judging one event of this type exercises."""
    return [r.id for r in contract.requirements if event_type in r.events]


def check_frame(frame: Frame) -> tuple[list[Violation], dict[str, Any] | None]:
    """Wire checks of one server frame; returns the violations and the event, if it is one."""
    if frame.kind == "binary":
        return [Violation("WIRE-TEXT-FRAME", "(frame)", "a binary frame; events are text frames", frame)], None
    if frame.text is None:
        return [], None
    try:
        event = parse_json(frame.text)
    except (json.JSONDecodeError, RecursionError):
        message = f"a text frame that is not JSON: {describe_value(frame.text[:60])}"
        return [Violation("WIRE-JSON-OBJECT", "(frame)", message, frame)], None
    if not isinstance(event, dict):
        message = f"a JSON {json_type(event)}, not an object: {describe_value(event)}"
        return [Violation("WIRE-JSON-OBJECT", "(frame)", message, frame)], None
    return [], event


# ------------------------------------------------------------------------ exchange checks


@dataclass(frozen=True)
class Event:
    """A server event on the connection, with the paths its event checks found broken."""

    frame: Frame
    data: dict[str, Any]
    bad_paths: frozenset[str]
    type: Any = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", self.data.get("type"))

    @property
    def session(self) -> dict[str, Any] | None:
        session = self.data.get("session")
        return session if isinstance(session, dict) else None


def is_throttle(event: Mapping[str, Any]) -> bool:
    """Whether an event is a rate-limit `error`: the target asks the client to slow down."""
    error = event.get("error")
    if event.get("type") != "error" or not isinstance(error, dict):
        return False
    return any(isinstance(error.get(k), str) and THROTTLE.search(error[k]) for k in ("code", "type"))


@dataclass(frozen=True)
class Step:
    """One sent `session.update` and what the server sent for it.

    Its events are those between this send and the next client frame, except that an `error`
    echoing another update's `event_id` belongs to that update, wherever it arrived.
    """

    sent: Frame
    classification: Classification
    events: tuple[Event, ...]
    end: float
    server_close: Frame | None
    timeout_s: float
    before: dict[str, Any] | None  # the effective configuration when it was sent, when known
    since_error: Step | None
    #: No earlier update could still be answered while this one was awaited (it is the first, or
    #: the client waited out the whole timeout of the previous one), so all it got is its own.
    clean: bool = False
    #: Every answer in its window is its own and all its own answers are there: it is clean, or no
    #: window since the last clean one (up to the next) holds more than one answer, so order pairs them.
    certain: bool = True
    #: The `error` events echoing its `event_id` (no other update sent that id): its own, however
    #: uncertain the rest of its window is.
    echoed: tuple[Event, ...] = ()

    def of_type(self, event_type: str) -> list[Event]:
        if event_type == "session.updated":
            return self.updated
        return [e for e in self.events if e.type == event_type]

    @functools.cached_property
    def updated(self) -> list[Event]:
        return [e for e in self.events if e.type == "session.updated"]

    @functools.cached_property
    def answers(self) -> list[Event]:
        return [e for e in self.events if e.type in ANSWER_TYPES]

    def in_time(self, event: Event) -> bool:
        return event.frame.time - self.sent.time <= self.timeout_s

    @functools.cached_property
    def answer(self) -> Event | None:
        """The first `session.updated` or `error`: what a client waiting on this update takes."""
        return self.answers[0] if self.answers else None

    @property
    def waited_out(self) -> bool:
        """Whether the client waited the whole timeout (or the server closed) for this step."""
        return self.server_close is not None or self.end - self.sent.time >= self.timeout_s

    @property
    def silent(self) -> bool:
        """Nothing answered it: no answer in its window, which it waited out. Certain, whatever
        else happened on the connection (an answer to it cannot arrive before it was sent)."""
        return not self.answers and self.waited_out

    @property
    def rejected(self) -> bool:
        """Its own answers that are certain are errors only: its in-time answers, when it is
        certain; else the errors echoing its event_id, when nothing else came in its window."""
        if self.certain:
            return {e.type for e in self.answers if self.in_time(e)} == {"error"}
        return bool(self.echoed) and len(self.answers) == len(self.echoed)


@dataclass(frozen=True)
class Connection:
    """One transcript, parsed once: its events, its update steps and what the server announced."""

    transcript: Transcript
    events: tuple[Event, ...]
    steps: tuple[Step, ...]
    server_close: Frame | None
    first_send: float | None
    sends: tuple[Frame, ...] = ()  # every client text frame, throttled attempts included
    fields: frozenset[str] = frozenset()  # the documented top-level RealtimeSession fields
    aliases: tuple[tuple[str, str], ...] = ()
    created: dict[str, Any] | None = None  # the session session.created announced before any update

    @functools.cached_property
    def surplus(self) -> Event | None:
        """The first `session.updated` that outnumbers the updates sent before it (`_surplus`)."""
        return _surplus(self.events, self.sends)

    @property
    def certain(self) -> tuple[Step, ...]:
        """The steps whose answers are paired for certain: the only ones the pairing checks judge."""
        return tuple(step for step in self.steps if step.certain)

    @property
    def unpaired(self) -> int:
        """How many steps could not be paired for certain (what the summary reports as unjudged)."""
        return sum(1 for step in self.steps if not step.certain)


def _surplus(events: Iterable[Event], sends: tuple[Frame, ...] | list[Frame]) -> Event | None:
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


CheckResult = tuple[int, list[Violation]]
ExchangeCheck = Callable[[Connection], CheckResult]
EXCHANGE_CHECKS: dict[str, ExchangeCheck] = {}


def exchange_check(requirement_id: str) -> Callable[[ExchangeCheck], ExchangeCheck]:
    """Register an exchange check under the requirement it judges."""

    def register(func: ExchangeCheck) -> ExchangeCheck:
        EXCHANGE_CHECKS[requirement_id] = func
        return func

    return register


def _violation(req: str, path: str, message: str, step: Step | None = None, received: Frame | None = None) -> Violation:
    return Violation(req, path, message, received, step.sent if step else None)


def _covers(expected: Any, actual: Any) -> bool:
    """Whether `actual` carries `expected`: equal JSON values, where an object may hold more keys."""
    kind, other = type(expected), type(actual)
    if kind is dict:
        # A null set is shown as null or left out: a server may omit null fields from what it writes.
        return other is dict and all(_covers(v, actual[k]) if k in actual else v is None for k, v in expected.items())
    if kind is list:
        return (
            other is list
            and len(actual) == len(expected)
            and all(_covers(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if kind is bool or other is bool:
        return expected is actual
    if kind in (int, float) and other in (int, float):
        return bool(expected == actual)
    return kind is other and bool(expected == actual)


def _unanswered(step: Step) -> str:
    if step.server_close is not None:
        code = step.server_close.close_code
        return f"the server closed the connection (code {code}) before answering"
    return f"no answer within {step.timeout_s:g}s"


@exchange_check("SC-SENT")
def check_created_sent(conn: Connection) -> CheckResult:
    created = next((e for e in conn.events if e.type == "session.created"), None)
    if created is not None and (conn.first_send is None or created.frame.time <= conn.first_send):
        return 1, []
    limit = conn.transcript.timeout_s
    if conn.first_send is not None and conn.first_send >= limit:
        return 1, [_violation("SC-SENT", "session.created", f"no session.created within {limit:g}s of connecting")]
    return 0, []


def _deaf_after_error(step: Step) -> bool:
    """A valid update after an error that got no answer: EX-USABLE-AFTER-ERROR's to judge.

    (An invalid one left unanswered is EX-INVALID-REJECTED's: it was not rejected, whatever came before.)
    """
    return step.since_error is not None and step.answer is None and step.classification.kind == "valid"


@exchange_check("EX-VALID-ANSWERED")
def check_valid_answered(conn: Connection) -> CheckResult:
    """Judged on every step where it is certain: a step paired for certain, an `error` echoing the
    update's event_id (its own wherever it arrived), or nothing at all in its waited-out window."""
    count, out = 0, []
    for step in conn.steps:
        if step.classification.kind != "valid":
            continue
        if not step.certain:
            if step.echoed:
                count += 1
                out.append(_rejected_valid(step, step.echoed[0]))
            elif step.silent:
                count += 1
                out.append(_violation("EX-VALID-ANSWERED", "session", _unanswered(step), step, step.server_close))
            continue
        updated = step.of_type("session.updated")
        answer = step.answer
        if updated:
            count += 1
            if not step.in_time(updated[0]):
                late = updated[0].frame.time - step.sent.time
                message = f"session.updated came after {late:.2f}s; the timeout is {step.timeout_s:g}s"
                out.append(_violation("EX-VALID-ANSWERED", "session", message, step, updated[0].frame))
        elif answer is not None and answer.type == "error":
            count += 1
            out.append(_rejected_valid(step, answer))
        elif _wrong_type_answer(step, "session") is not None or _deaf_after_error(step):
            continue  # judged by SU-TYPE / EX-USABLE-AFTER-ERROR: one defect, one violation
        elif step.waited_out:
            count += 1
            out.append(_violation("EX-VALID-ANSWERED", "session", _unanswered(step), step, step.server_close))
    return count, out


def _rejected_valid(step: Step, error_event: Event) -> Violation:
    error = error_event.data.get("error")
    detail = describe_value(error.get("message")) if isinstance(error, dict) else "no message"
    message = f"a valid update was rejected with error {detail}"
    return _violation("EX-VALID-ANSWERED", "session", message, step, error_event.frame)


def _wrong_type_answer(step: Step, carrier: str) -> Event | None:
    """An event that carries a `session` (or `error`) object under an undocumented type."""
    documented = {"session": ("session.created", "session.updated"), "error": ("error",)}[carrier]
    for event in step.events:
        if isinstance(event.data.get(carrier), dict) and event.type not in documented:
            return event
    return None


@exchange_check("SU-TYPE")
def check_answer_type(conn: Connection) -> CheckResult:
    count, out = 0, []
    for step in conn.certain:
        if step.classification.kind != "valid" or step.answer is not None:
            continue
        wrong = _wrong_type_answer(step, "session")
        if wrong is not None:
            count += 1
            message = f"answered with type {describe_value(wrong.type)}; expected 'session.updated'"
            out.append(_violation("SU-TYPE", "type", message, step, wrong.frame))
    return count, out


@exchange_check("ERR-TYPE")
def check_error_type(conn: Connection) -> CheckResult:
    count, out = 0, []
    for step in conn.certain:
        if step.classification.kind != "invalid" or step.answer is not None:
            continue
        wrong = _wrong_type_answer(step, "error")
        if wrong is not None:
            count += 1
            message = f"rejected with type {describe_value(wrong.type)}; expected 'error'"
            out.append(_violation("ERR-TYPE", "type", message, step, wrong.frame))
    return count, out


@exchange_check("EX-VALID-ONCE")
def check_answered_once(conn: Connection) -> CheckResult:
    """Two `session.updated` for one update, judged only where that is provable.

    In a clean step every answer within the timeout is the step's own; anywhere else a
    `session.updated` proves a double answer only by outnumbering the updates sent before it.
    """
    answered = [step for step in conn.steps if step.updated]
    for step in answered:
        own = [e for e in step.updated if step.in_time(e)]
        if step.clean and len(own) > 1:
            message = (
                f"{len(own)} session.updated events answered one session.update within {step.timeout_s:g}s "
                "(no other update was awaiting an answer)"
            )
            return len(answered), [_violation("EX-VALID-ONCE", "session", message, step, own[1].frame)]
    surplus = conn.surplus
    if surplus is not None:
        count = 1 + sum(1 for e in conn.events if e.type == "session.updated" and e.frame.time < surplus.frame.time)
        sent = sum(1 for frame in conn.sends if frame.time <= surplus.frame.time)
        message = f"{count} session.updated events arrived when only {sent} session.update events had been sent"
        owner = next((s for s in conn.steps if surplus in s.events), None)
        return len(answered), [_violation("EX-VALID-ONCE", "session", message, owner, surplus.frame)]
    return len(answered), []


def _without(value: Any, paths: Iterable[list[str]]) -> Any:
    """`value` without the given sub-paths (what an answer need not reflect)."""
    for path in paths:
        value = without_path(value, path)
    return value


def _where(expected: Any, actual: Any) -> str:
    """Where two strings differ, when a shortened rendering of both could look the same."""
    if not isinstance(expected, str) or not isinstance(actual, str):
        return ""
    i = next(
        (n for n, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), min(len(expected), len(actual))
    )
    got = f"U+{ord(actual[i]):04X}" if i < len(actual) else "the end"
    wanted = f"U+{ord(expected[i]):04X}" if i < len(expected) else "the end"
    return f" (they differ at character {i}: {got} instead of {wanted}; {len(actual)} characters, {len(expected)} set)"


@exchange_check("EX-REFLECT")
def check_reflected(conn: Connection) -> CheckResult:
    """Every update the server accepts, valid or undetermined, comes back applied (spec-notes,
    "Accepting means applying"): each documented field it set with a value of its documented type,
    but nulls taken as "not set", server-owned fields and aliases set to contradicting values."""
    count, out = 0, []
    for step in conn.certain:
        classification = step.classification
        patch = classification.session
        updated = step.of_type("session.updated")
        if classification.kind == "invalid" or not updated or patch is None:
            continue
        answer = updated[0]
        if answer.session is None or not step.in_time(answer):
            continue
        count += 1
        accepted = (
            "" if classification.kind == "valid" else f" (an accepted undetermined update: {classification.reason})"
        )
        contradicted = [p.split(".") for p in classification.contradicted]
        for key in classification.applied:
            path = f"session.{key}"
            if any(p == path or p.startswith(path + ".") for p in answer.bad_paths):
                continue  # already a violation of that field's own requirement
            inner = [p[1:] for p in contradicted if p[0] == key]
            if [] in inner:
                continue
            value = _without(patch[key], inner) if inner else patch[key]
            if key not in answer.session and value is None:
                continue  # null set and left out of the answer: the same effective configuration
            if key not in answer.session:
                message = f"{path} was set but is missing from session.updated{accepted}"
                out.append(_violation("EX-REFLECT", path, message, step, answer.frame))
            elif not _covers(value, answer.session[key]):
                shown = _without(answer.session[key], inner) if inner else answer.session[key]
                message = f"{path} is {describe_value(shown)}; the update set {describe_value(value)}"
                out.append(
                    _violation("EX-REFLECT", path, message + _where(value, shown) + accepted, step, answer.frame)
                )
    return count, out


@exchange_check("EX-INVALID-REJECTED")
def check_invalid_rejected(conn: Connection) -> CheckResult:
    """Judged where certain: a step paired for certain, or nothing at all in a waited-out window
    (an echoed error alone proves the rejection, not that no session.updated came too)."""
    count, out = 0, []
    for step in conn.steps:
        if step.classification.kind != "invalid":
            continue
        if not step.certain:
            if step.silent and not (step.since_error and step.server_close):
                count += 1
                message = f"an invalid update ({step.classification.reason}) got {_unanswered(step)}; expected error"
                out.append(_violation("EX-INVALID-REJECTED", "session", message, step, step.server_close))
            continue
        updated = step.of_type("session.updated")
        errors = [e for e in step.of_type("error") if step.in_time(e)]
        reason = step.classification.reason
        if updated:
            count += 1
            also = " (and by error too)" if step.of_type("error") else ""
            message = f"an invalid update ({reason}) was answered by session.updated{also}; expected error only"
            out.append(_violation("EX-INVALID-REJECTED", "session", message, step, updated[0].frame))
        elif errors:
            count += 1
        elif _wrong_type_answer(step, "error") is not None or (step.since_error and step.server_close):
            continue  # judged by ERR-TYPE / EX-USABLE-AFTER-ERROR
        elif step.waited_out:
            count += 1
            message = f"an invalid update ({reason}) got {_unanswered(step)}; expected error"
            out.append(_violation("EX-INVALID-REJECTED", "session", message, step, step.server_close))
    return count, out


@exchange_check("EX-ERROR-ECHO")
def check_error_echo(conn: Connection) -> CheckResult:
    count, out = 0, []
    for step in conn.certain:
        answer = step.answer
        sent_id = step.classification.event_id
        if answer is None or answer.type != "error" or sent_id is None:
            continue
        error = answer.data.get("error")
        if not isinstance(error, dict) or "error.event_id" in answer.bad_paths:
            continue
        count += 1
        echoed = error.get("event_id")
        if echoed != sent_id:
            shown = describe_value(echoed) if "event_id" in error else "missing"
            message = f"error.event_id is {shown}; expected {describe_value(sent_id)}"
            out.append(_violation("EX-ERROR-ECHO", "error.event_id", message, step, answer.frame))
    return count, out


@exchange_check("EX-USABLE-AFTER-ERROR")
def check_usable_after_error(conn: Connection) -> CheckResult:
    """After an error that is certainly its update's (`Step.rejected`), a close or silence is certain."""
    count, out = 0, []
    for step in conn.steps:
        own = step.answer if step.certain else (step.echoed[0] if step.echoed else None)
        errored = own is not None and own.type == "error"
        if step.server_close is not None and (errored or step.since_error is not None):
            count += 1
            message = f"the server closed the connection (code {step.server_close.close_code}) after an error"
            out.append(_violation("EX-USABLE-AFTER-ERROR", "session", message, step, step.server_close))
        elif step.since_error is None or step.classification.kind != "valid":
            continue
        elif step.answer is not None or _wrong_type_answer(step, "session") or _wrong_type_answer(step, "error"):
            count += 1  # answered (so usable); a wrong type is SU-TYPE's or ERR-TYPE's to judge
        elif step.waited_out:
            count += 1
            message = f"after an error the next update got {_unanswered(step)}"
            out.append(_violation("EX-USABLE-AFTER-ERROR", "session", message, step))
    return count, out


_ABSENT = object()


def _unset_changes(conn: Connection, step: Step) -> tuple[bool, list[tuple[str, Any, Any]]]:
    """Whether the patch rule judges this step's answer, and the (field, before, now) it broke.

    Judged: each documented top-level field the update did not set, that the answer shows and
    that was known before. Not judged (spec-notes, "Patch semantics"): `id` (EX-SESSION-ID-STABLE's),
    a field whose alias the update set, an answer to an update that switched `session.type`.
    """
    updated = [e for e in step.updated if step.in_time(e)]
    patch = step.classification.session
    if len(updated) != 1 or updated[0].session is None or step.before is None or patch is None:
        return False, []
    if step.of_type("error") or step.classification.kind == "invalid":
        return False, []  # contradicting answers, or an invalid update accepted: EX-INVALID-REJECTED's
    before, now, bad = step.before, updated[0].session, updated[0].bad_paths
    if "type" in patch and patch["type"] != before.get("type", "realtime"):
        return False, []
    exempt = {"id"}
    for pair in conn.aliases:
        tops = [path.split(".")[0] for path in pair]
        if any(top in patch for top in tops):
            exempt.update(tops)
    judged, broken = False, []
    for key in sorted(conn.fields - exempt - set(patch)):
        path = f"session.{key}"
        if key not in before or key not in now or any(p == path or p.startswith(path + ".") for p in bad):
            continue
        judged = True
        if not _covers(before[key], now[key]):
            broken.append((path, before[key], now[key]))
    return judged, broken


@exchange_check("EX-PATCH-KEEPS-UNSET")
def check_patch_semantics(conn: Connection) -> CheckResult:
    count, out = 0, []
    for step in conn.certain:
        if step.since_error is not None:
            continue  # after an error the baseline is older: EX-KEEP-CONFIG's
        judged, broken = _unset_changes(conn, step)
        count += judged
        for path, before, now in broken:
            message = f"{path} is {describe_value(now)}; the update did not set it and it was {describe_value(before)}"
            out.append(_violation("EX-PATCH-KEEPS-UNSET", path, message, step, step.updated[0].frame))
    return count, out


@exchange_check("EX-KEEP-CONFIG")
def check_config_kept(conn: Connection) -> CheckResult:
    count, out = 0, []
    for step in conn.certain:
        rejected = step.since_error
        if rejected is None:
            continue
        judged, broken = _unset_changes(conn, step)
        count += judged
        leaked = rejected.classification.session or {}
        for path, before, now in broken:
            key = path.removeprefix("session.")
            # A default (what session.created showed) coming back is no proof of a leak.
            default = (conn.created or {}).get(key, _ABSENT)
            leak = key in leaked and _covers(leaked[key], now) and not _covers(default, now)
            origin = " (the value of the rejected update)" if leak else ""
            message = (
                f"{path} is {describe_value(now)}{origin}; the next update did not set it "
                f"and before the rejected update it was {describe_value(before)}"
            )
            # A change that is no leak is what a server without patch semantics does to every update.
            explained_by = "" if leak else "EX-PATCH-KEEPS-UNSET"
            out.append(
                replace(
                    _violation("EX-KEEP-CONFIG", path, message, rejected, step.updated[0].frame),
                    explained_by=explained_by,
                )
            )
    return count, out


@exchange_check("EX-SESSION-ID-STABLE")
def check_session_id_stable(conn: Connection) -> CheckResult:
    count, out = 0, []
    current: str | None = None
    # An id the client itself set in an update is the client's request, not the server's drift.
    asked = {
        step.classification.session["id"]
        for step in conn.steps
        if step.classification.session and isinstance(step.classification.session.get("id"), str)
    }
    for event in conn.events:
        if event.type not in ("session.created", "session.updated") or event.session is None:
            continue
        sid = event.session.get("id")
        if not isinstance(sid, str):
            continue
        if current is not None:
            count += 1
            if sid != current and sid not in asked:
                message = f"session.id changed from {describe_value(current)} to {describe_value(sid)}"
                out.append(Violation("EX-SESSION-ID-STABLE", "session.id", message, event.frame))
        current = sid
    return count, out


@exchange_check("EX-EVENT-ID-UNIQUE")
def check_event_ids_unique(conn: Connection) -> CheckResult:
    seen: set[str] = set()
    count, out = 0, []
    for event in conn.events:
        eid = event.data.get("event_id")
        if not isinstance(eid, str) or not eid:
            continue
        count += 1
        if eid in seen:
            message = f"event_id {describe_value(eid)} was already used on this connection"
            out.append(Violation("EX-EVENT-ID-UNIQUE", "event_id", message, event.frame))
        seen.add(eid)
    return count, out


def _session_id_never_sent(conn: Connection) -> str | None:
    sessions = [e.session for e in conn.events if e.type in ("session.created", "session.updated") and e.session]
    if sessions and not any("id" in session for session in sessions):
        return "the server never sent session.id, an optional field"
    return None


def _unset_fields_never_shown(conn: Connection) -> str | None:
    shown = [
        (set(step.classification.session), step.updated[0].session)
        for step in conn.certain
        if step.updated and step.updated[0].session is not None and step.classification.session is not None
    ]
    if not conn.unpaired and shown and all(not (conn.fields - {"id"} - patch) & set(now) for patch, now in shown):
        return "session.updated never showed a documented field that its update did not set (all are optional)"
    return None


#: Why a requirement's condition never arose on a connection, for those a server may legitimately
#: never give rise to by omitting an optional field.
NOT_APPLICABLE: dict[str, Callable[[Connection], str | None]] = {
    "EX-SESSION-ID-STABLE": _session_id_never_sent,
    "EX-PATCH-KEEPS-UNSET": _unset_fields_never_shown,
    "EX-KEEP-CONFIG": _unset_fields_never_shown,
}


# ------------------------------------------------------------------------------- judging


def session_fields(contract: Contract) -> frozenset[str]:
    """The documented top-level RealtimeSession fields: those the catalogue judges in `session.updated`."""
    return frozenset(
        r.path.split(".")[1]
        for r in contract.requirements
        if "session.updated" in r.events and r.path.startswith("session.") and r.path.count(".") == 1
    )


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


@dataclass
class _Window:
    sent: Frame
    events: list[Event]
    end: float
    close: Frame | None = None
    open: bool = True


def parse_connection(transcript: Transcript, contract: Contract, judgement: Judgement) -> Connection:
    """One pass over the frames: wire and event checks into `judgement`, then the steps."""
    events: list[Event] = []
    sends: list[Frame] = []
    client_close: Frame | None = None
    server_close: Frame | None = None
    positions: list[tuple[str, Any]] = []
    for frame in transcript.frames:
        if frame.direction == "client":
            if frame.kind == "text":
                sends.append(frame)
                positions.append(("send", frame))
            elif frame.kind == "close" and client_close is None:
                client_close = frame
                positions.append(("client-close", frame))
            continue
        if frame.kind == "close":
            if server_close is None and client_close is None:
                server_close = frame
                positions.append(("server-close", frame))
            continue
        judgement.exercised.update(FRAME_REQUIREMENTS if frame.kind == "text" else FRAME_REQUIREMENTS[:1])
        wire, data = check_frame(frame)
        judgement.violations += wire
        if data is None:
            continue
        found = check_event(data, contract, frame=frame)
        judgement.violations += found
        if data.get("type") in SERVER_EVENT_TYPES:
            judgement.exercised.update(event_requirements(contract, data["type"]))
        event = Event(frame, data, frozenset(v.path for v in found))
        events.append(event)
        positions.append(("event", event))

    created = next((e for e in events if e.type == "session.created" and e.session is not None), None)
    effective = created.session if created is not None and (not sends or created.frame.time <= sends[0].time) else None
    effective_at_start = effective
    context = opening_context(transcript, effective)
    end_time = transcript.frames[-1].time if transcript.frames else 0.0
    windows = _throttles_merged(_echoes_paired(_windows(positions, end_time)))
    timeout = transcript.timeout_s
    clean = [i == 0 or w.sent.time - windows[i - 1].sent.time >= timeout for i, w in enumerate(windows)]
    ids = [_sent_event_id(w.sent) for w in windows]
    own_ids = [i if seen[i] == 1 else None for seen in [Counter(ids)] for i in ids]  # linear: ids.count was quadratic
    certain = _order_pairable(windows, own_ids, clean, _surplus(events, sends))
    steps: list[Step] = []
    since_error: Step | None = None
    for index, window in enumerate(windows):
        own_id = own_ids[index]
        step = Step(
            sent=window.sent,
            classification=classify(window.sent.text or "", contract, context),
            events=tuple(sorted(window.events, key=lambda e: e.frame.time)),
            end=window.end,
            server_close=window.close,
            timeout_s=timeout,
            before=effective,
            since_error=since_error,
            clean=clean[index],
            certain=clean[index] or certain[index],
            echoed=tuple(e for e in window.events if own_id is not None and _echo(e) == own_id),
        )
        steps.append(step)
        kinds = {e.type for e in step.answers if step.in_time(e)}
        since_error = step if step.rejected else None
        if step.certain and kinds == {"session.updated"}:
            effective = step.updated[0].session
            context = context.after_accepting(step.classification)
        elif not step.certain or kinds != {"error"}:
            # accepted and rejected at once, no answer in time, or answers not paired for certain:
            # what the server holds is unknown, and whether it switched the session type too
            effective = None
            context = context.after_accepting(step.classification)
    first_send = sends[0].time if sends else None
    return Connection(
        transcript,
        tuple(events),
        tuple(steps),
        server_close,
        first_send,
        tuple(sends),
        session_fields(contract),
        contract.aliases,
        effective_at_start,
    )


def _windows(positions: list[tuple[str, Any]], end_time: float) -> list[_Window]:
    """Each send opens a window that the next send, a close, or the end of the transcript ends."""
    windows: list[_Window] = []
    for kind, item in positions:
        current = windows[-1] if windows and windows[-1].open else None
        if kind == "send":
            if current is not None:
                current.end, current.open = item.time, False
            windows.append(_Window(item, [], end_time))
        elif current is None:
            continue
        elif kind == "event":
            current.events.append(item)
        else:
            current.end, current.open = item.time, False
            current.close = item if kind == "server-close" else None
    return windows


def _sent_event_id(frame: Frame) -> str | None:
    try:
        event = parse_json(frame.text or "")
    except (json.JSONDecodeError, RecursionError):
        return None
    event_id = event.get("event_id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) else None


def _order_pairable(
    windows: list[_Window], own_ids: list[str | None], clean: list[bool], surplus: Event | None
) -> list[bool]:
    """For each window, whether pairing by order is certain for it.

    The client sends the next update once the first answer arrived, so pairing by order holds
    unless some update got a second answer (or one came unasked): then every later answer may be
    one window off, up to the next clean window (the client waited out the timeout before it).
    So the windows from one clean window to the next are pairable together, or not at all: when
    none holds two answers and the surplus session.updated (if any) is not among them, nor in the
    next clean window (where the last update's own answer would be, had one window been off).
    Errors echoing the window's own update are its own and shift nothing: together they count as one.
    """

    def answers(window: _Window, own_id: str | None) -> int:
        found = [e for e in window.events if e.type in ANSWER_TYPES]
        echoed = sum(1 for e in found if own_id is not None and _echo(e) == own_id)
        return len(found) - echoed + min(echoed, 1)

    out = [False] * len(windows)
    starts = [i for i, is_clean in enumerate(clean) if is_clean] + [len(windows)]
    for start, stop in itertools.pairwise(starts):
        reach = range(start, min(stop + 1, len(windows)))
        ok = all(answers(windows[i], own_ids[i]) <= 1 and surplus not in windows[i].events for i in reach)
        out[start:stop] = [ok] * (stop - start)
    return out


def _echo(event: Event) -> Any:
    error = event.data.get("error")
    return error.get("event_id") if event.type == "error" and isinstance(error, dict) else None


def _echoes_paired(windows: list[_Window]) -> list[_Window]:
    """Move each `error` that echoes the `event_id` of one earlier update into that update's window."""
    ids = [_sent_event_id(w.sent) for w in windows]
    for index, window in enumerate(windows):
        for event in list(window.events):
            error = event.data.get("error")
            echoed = error.get("event_id") if event.type == "error" and isinstance(error, dict) else None
            if not isinstance(echoed, str) or ids[index] == echoed:
                continue
            owners = [i for i in range(index) if ids[i] == echoed]
            if len(owners) == 1 and ids.count(echoed) == 1:
                window.events.remove(event)
                windows[owners[0]].events.append(event)
    return windows


def _throttles_merged(windows: list[_Window]) -> list[_Window]:
    """Drop the throttled attempts: a window whose update was throttled and sent again joins the resend.

    A throttled attempt is neither accepted nor rejected, so it is not judged; an attempt still
    throttled when the client gave up is dropped with its rate-limit error.
    """
    out: list[_Window] = []
    carried: list[Event] = []
    for index, window in enumerate(windows):
        window.events[:0] = carried
        carried = []
        throttled = [e for e in window.events if is_throttle(e.data)]
        if not throttled:
            out.append(window)
            continue
        rest = [e for e in window.events if not is_throttle(e.data)]
        following = windows[index + 1] if index + 1 < len(windows) else None
        if following is not None and following.sent.text == window.sent.text:
            carried = rest
        elif any(e.type in ANSWER_TYPES for e in rest):
            window.events = rest
            out.append(window)
    return out


def judge(transcript: Transcript, contract: Contract) -> Judgement:
    """Judge one connection's transcript against every event and exchange requirement."""
    judgement = Judgement()
    conn = parse_connection(transcript, contract, judgement)
    judgement.exchanges = len(conn.steps)
    judgement.unpaired = conn.unpaired
    for requirement_id, check in EXCHANGE_CHECKS.items():
        count, violations = check(conn)
        judgement.exercised[requirement_id] += count
        judgement.violations += violations
    for requirement_id, why_not in NOT_APPLICABLE.items():
        reason = why_not(conn) if not judgement.exercised[requirement_id] else None
        if reason is not None:
            judgement.not_applicable[requirement_id] = reason
    judgement.violations = [replace(v, connection=transcript.label) for v in judgement.violations]
    return judgement


def judge_all(transcripts: Iterable[Transcript], contract: Contract) -> Judgement:
    """Judge every connection of a run; a violation another one explains is reported under that one."""
    total = Judgement()
    for transcript in transcripts:
        total.add(judge(transcript, contract))
    shown = {v.requirement for v in total.violations if not v.explained_by}
    total.violations = [
        replace(v, requirement=v.explained_by, explained_by="") if v.explained_by in shown else v
        for v in total.violations
    ]
    return total

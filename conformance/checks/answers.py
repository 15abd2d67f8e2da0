"""Exchange checks about answers: is each awaited client event answered, once, with the right
event, in time, and does the connection stay usable after an error. Registered in `registry`."""

from __future__ import annotations

from collections.abc import Iterator

from conformance.checks.connection import Connection, Event, Step
from conformance.checks.findings import describe_value
from conformance.checks.registry import HELD, Finding, Flaw, Needs, connection_check, step_check
from conformance.transcript import Frame

#: The label of a finding "nothing answered it": another check that judged the step explains it.
UNANSWERED = "unanswered"
#: The requirements of whether an update was answered: each update judged at all exercises one of them
#: (by its classification). A run that exercised none judged no exchange: its target was not tested.
ANSWERED = ("EX-VALID-ANSWERED", "EX-INVALID-REJECTED", "EX-UNDETERMINED-ANSWERED")
#: A valid update's own error beside a session.updated in its window, which may be its own too (a server
#: that answers both: EX-ONE-ANSWER, where that is certain).
ALSO_UPDATED = "rejected, beside a session.updated"


def flaw(path: str, message: str, step: Step | None = None, received: Frame | None = None, label: str = "") -> Flaw:
    return Flaw(path, message, received, step.sent if step else None, label)


def unanswered(step: Step) -> str:
    if step.server_close is not None:
        code = step.server_close.close_code
        return f"the server closed the connection (code {code}) before answering"
    return f"no answer within {step.timeout_s:g}s"


def slow_or_unusable(step: Step, conn: Connection) -> bool:
    """Silence right after an error, on a connection that answered nothing in time before the error: a slow
    server's or one the error left unusable, which this connection cannot tell apart (others do: one that
    answered in time before an error, for EX-USABLE-AFTER-ERROR; one with no error, for the answering ones)."""
    return step.since_error is not None and not conn.timely_before_error


def wrong_type_answer(step: Step, conn: Connection, carrier: str) -> Event | None:
    """An event that carries a `session` (or `error`) object under a type not documented to carry it."""
    for event in step.events:
        if isinstance(event.data.get(carrier), dict) and not conn.carries(event.type, carrier):
            return event
    return None


@connection_check("SC-SENT")
def check_created_sent(conn: Connection) -> Iterator[Finding]:
    created = next((e for e in conn.events if e.type == "session.created"), None)
    if created is not None and (conn.first_send is None or created.frame.time <= conn.first_send):
        yield HELD
        return
    limit = conn.transcript.timeout_s
    if conn.first_send is not None and conn.first_send >= limit:
        yield Finding((flaw("session.created", f"no session.created within {limit:g}s of connecting"),))


def _rejected_valid(step: Step, error_event: Event, label: str = "") -> Flaw:
    error = error_event.data.get("error")
    detail = describe_value(error.get("message")) if isinstance(error, dict) else "no message"
    return flaw("session", f"a valid update was rejected with error {detail}", step, error_event.frame, label)


@step_check("SU-TYPE", Needs(kinds=frozenset({"valid"}), certain=True), supersedes=(("EX-VALID-ANSWERED", UNANSWERED),))
def check_answer_type(step: Step, conn: Connection) -> Finding | None:
    """Judged here alone: the schema recognises an event by its type, so only the exchange shows
    an answer that came under another one (an event carrying a session, awaited as session.updated)."""
    if step.answer is not None:
        return HELD if step.answer.type == "session.updated" else None
    wrong = wrong_type_answer(step, conn, "session")
    if wrong is None:
        return None
    message = f"answered with type {describe_value(wrong.type)}; expected 'session.updated'"
    return Finding((flaw("type", message, step, wrong.frame),))


@step_check("ERR-TYPE", Needs(certain=True), supersedes=(("EX-INVALID-REJECTED", UNANSWERED),))
def check_error_type(step: Step, conn: Connection) -> Finding | None:
    """Every rejection counts; a rejection under another type is provable for an invalid update only."""
    if step.answer is not None:
        return HELD if step.answer.type == "error" else None
    wrong = wrong_type_answer(step, conn, "error") if step.classification.kind == "invalid" else None
    if wrong is None:
        return None
    message = f"rejected with type {describe_value(wrong.type)}; expected 'error'"
    return Finding((flaw("type", message, step, wrong.frame),))


@step_check("EX-VALID-ANSWERED", Needs(kinds=frozenset({"valid"})), explained_by=((ALSO_UPDATED, "EX-ONE-ANSWER"),))
def check_valid_answered(step: Step, conn: Connection) -> Finding | None:
    """Judged on every step where it is certain: a step paired for certain, an `error` echoing the
    update's event_id (its own wherever it arrived), or nothing at all in its waited-out window.
    The first answer is what a client acts on: an error first is a rejection, whatever follows it.
    Where pairing is uncertain, an echoed error beside a session.updated may be a server answering both."""
    if not step.certain:
        if step.echoed:
            return Finding((_rejected_valid(step, step.echoed[0], ALSO_UPDATED if step.updated else ""),))
        if step.silent and not slow_or_unusable(step, conn):
            return Finding((flaw("session", unanswered(step), step, step.server_close),))
        return None
    errors, updated = step.own_errors, step.of_type("session.updated")
    if errors and (not step.updated_in_time or errors[0].frame.time <= step.updated_in_time[0].frame.time):
        return Finding((_rejected_valid(step, errors[0]),))
    if updated:
        if step.in_time(updated[0]):
            return HELD if step.surely_in_time(updated[0]) else None  # read late: it may have come late
        late = updated[0].frame.earliest_time - step.sent.time
        message = f"session.updated came after {late:.2f}s; the timeout is {step.timeout_s:g}s"
        return Finding((flaw("session", message, step, updated[0].frame),))
    if step.answer is not None and step.answer.type == "error":
        return Finding((_rejected_valid(step, step.answer),))
    if step.waited_out and not slow_or_unusable(step, conn):
        return Finding((flaw("session", unanswered(step), step, step.server_close),), UNANSWERED)
    return None


@connection_check("EX-VALID-ONCE")
def check_answered_once(conn: Connection) -> Iterator[Finding]:
    """Two `session.updated` for one update, judged only where that is provable: in a clean step
    every answer within the timeout is its own; anywhere else a `session.updated` proves a double
    answer only by outnumbering the updates sent before it. One exercise per answered update."""
    answered = [step for step in conn.steps if step.updated]
    flaws: tuple[Flaw, ...] = ()
    for step in answered:
        own = step.updated_in_time
        if step.clean and len(own) > 1:
            message = (
                f"{len(own)} session.updated events answered one session.update within {step.timeout_s:g}s "
                "(no other update was awaiting an answer)"
            )
            flaws = (flaw("session", message, step, own[1].frame),)
            break
    surplus = conn.surplus
    if not flaws and surplus is not None:
        # counted as `surplus` counts: the session.updated events after the first update, up to this arrival
        first = min(frame.time for frame in conn.sends)
        count = 0
        for event in conn.events:
            count += event.type == "session.updated" and event.frame.time > first
            if event is surplus:
                break
        sent = sum(1 for frame in conn.sends if frame.time <= surplus.frame.time)
        message = f"{count} session.updated events arrived when only {sent} session.update events had been sent"
        owner = next((s for s in conn.steps if surplus in s.events), None)
        flaws = (flaw("session", message, owner, surplus.frame),)
    for index in range(max(len(answered), 1 if flaws else 0)):
        yield Finding(flaws) if index == 0 and flaws else HELD


@step_check("EX-INVALID-REJECTED", Needs(kinds=frozenset({"invalid"})))
def check_invalid_rejected(step: Step, conn: Connection) -> Finding | None:
    """Judged where certain: a step paired for certain, or nothing at all in a waited-out window
    (an echoed error alone proves the rejection, not that no session.updated came too)."""
    reason = step.classification.reason
    expected = f"an invalid update ({reason}) got {unanswered(step)}; expected error"
    if not step.certain:
        if step.silent and not (step.since_error and step.server_close):
            return Finding((flaw("session", expected, step, step.server_close),))
        return None
    updated = step.of_type("session.updated")
    if updated:
        also = " (and by error too)" if step.of_type("error") else ""
        message = f"an invalid update ({reason}) was answered by session.updated{also}; expected error only"
        return Finding((flaw("session", message, step, updated[0].frame),))
    errors = step.of_type("error")
    if any(step.in_time(e) for e in errors):
        return HELD if any(step.surely_in_time(e) for e in errors) else None
    if errors:  # its own error, after the timeout: no rejection a client waiting for one saw (never superseded)
        late = errors[0].frame.earliest_time - step.sent.time
        message = f"an invalid update ({reason}) got error only after {late:.2f}s; the timeout is {step.timeout_s:g}s"
        return Finding((flaw("session", message, step, errors[0].frame),))
    if step.waited_out:
        return Finding((flaw("session", expected, step, step.server_close),), UNANSWERED)
    return None


@step_check("EX-UNDETERMINED-ANSWERED", Needs(kinds=frozenset({"undetermined"})))
def check_undetermined_answered(step: Step, conn: Connection) -> Finding | None:
    """The server chooses between accepting and rejecting; silence is neither. Not judged where the
    server closed instead (a way to refuse the documents do not rule on), nor right after an error
    (EX-USABLE-AFTER-ERROR's), nor for a session type the connection's history leaves undetermined
    (the target may hold it valid: a fault on valid updates shows there), nor on a connection where
    it was silent or late on a valid or invalid update too: that is one defect, judged there."""
    if step.server_close is not None or step.since_error is not None or step.classification.path == "session.type":
        return None
    if _slow_elsewhere(step, conn):
        return None
    if not step.certain:
        if step.echoed:
            return HELD if step.surely_in_time(step.echoed[0]) else None
        if step.silent:
            return _unanswered_undetermined(step)
        return None
    if any(step.in_time(e) for e in step.answers):
        return HELD if step.answered_in_time else None
    if step.answers:
        first = step.answers[0]
        late = first.frame.earliest_time - step.sent.time
        message = f"{first.type} came after {late:.2f}s; the timeout is {step.timeout_s:g}s"
        return Finding((flaw("session", message, step, first.frame),))
    if wrong_type_answer(step, conn, "session") or wrong_type_answer(step, conn, "error"):
        return None  # answered under another type: SU-TYPE's or ERR-TYPE's to judge
    if step.waited_out:
        return _unanswered_undetermined(step)
    return None


def _slow_elsewhere(step: Step, conn: Connection) -> bool:
    """Whether a valid or invalid update of the connection got no answer in time either, or the server
    rejected an update before this one (what it does after an error is EX-USABLE-AFTER-ERROR's)."""
    rejected = conn.first_rejection
    return conn.unanswered_decided or (rejected is not None and rejected < step.sent.time)


def _unanswered_undetermined(step: Step) -> Finding:
    reason = step.classification.reason
    message = f"an undetermined update ({reason}) got {unanswered(step)}; expected session.updated or error"
    return Finding((flaw("session", message, step, step.server_close),), UNANSWERED)


@step_check("EX-ONE-ANSWER", Needs(kinds=frozenset({"valid", "undetermined"}), certain=True))
def check_one_answer(step: Step, conn: Connection) -> Finding | None:
    """session.updated is sent "unless there is an error": both, for one update, contradict each other.
    Judged where its answers are certain; an invalid update answered by both is EX-INVALID-REJECTED's,
    and a valid one whose first answer is an error was rejected (EX-VALID-ANSWERED)."""
    if "session.updated" not in step.kinds_in_time:
        return None
    errors = step.own_errors
    if step.classification.kind == "valid" and errors and errors[0].frame.time <= step.updated_in_time[0].frame.time:
        return None  # an error first: the update was rejected (EX-VALID-ANSWERED)
    if not errors:
        return HELD
    message = "answered by session.updated and by error within the timeout; expected one of them"
    return Finding((flaw("session", message, step, errors[0].frame),))


@step_check("EX-ERROR-ECHO", Needs(certain=True))
def check_error_echo(step: Step, conn: Connection) -> Finding | None:
    answer, sent_id = step.answer, step.classification.event_id
    if answer is None or answer.type != "error" or sent_id is None:
        return None
    error = answer.data.get("error")
    if not isinstance(error, dict) or "error.event_id" in answer.bad_paths:
        return None
    echoed = error.get("event_id")
    if echoed == sent_id:
        return HELD
    shown = describe_value(echoed) if "event_id" in error else "missing"
    message = f"error.event_id is {shown}; expected {describe_value(sent_id)}"
    return Finding((flaw("error.event_id", message, step, answer.frame),))


@step_check(
    "EX-USABLE-AFTER-ERROR",
    Needs(),
    supersedes=(
        ("EX-VALID-ANSWERED", UNANSWERED),
        ("EX-INVALID-REJECTED", UNANSWERED),
        ("EX-UNDETERMINED-ANSWERED", UNANSWERED),
    ),
)
def check_usable_after_error(step: Step, conn: Connection) -> Finding | None:
    """After an error that is certainly its update's (`Step.rejected`), a close or silence is certain.

    A close after the next update's own answer (an idle timeout, say) is not: that answer showed the
    connection usable after the error. Silence is the error's doing only where the connection answered in
    time before it (`slow_or_unusable`): a server that answers late is late after an error too."""
    own = step.answer if step.certain else (step.echoed[0] if step.echoed else None)
    errored = own is not None and own.type == "error"
    recovered = own is not None and not errored
    if step.server_close is not None and (errored or (step.since_error is not None and not recovered)):
        message = f"the server closed the connection (code {step.server_close.close_code}) after an error"
        return Finding((flaw("session", message, step, step.server_close),))
    if step.since_error is None or step.classification.kind != "valid":
        return None
    if step.answer is not None or wrong_type_answer(step, conn, "session") or wrong_type_answer(step, conn, "error"):
        return HELD  # answered (so usable); a wrong type is SU-TYPE's or ERR-TYPE's to judge
    if step.waited_out and not slow_or_unusable(step, conn):
        return Finding((flaw("session", f"after an error the next update got {unanswered(step)}", step),))
    return None

"""The mock's protocol logic with plain data, h11-style: frames in, actions out, no socket.

`MockSession` is what the reference mock serves; these tests pin its documented behaviour one
event at a time, and each fault against the same input, without a server or a clock.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from conformance.checks import check_event
from conformance.contract import load_contract
from conformance.mock import FAULTS, Fault, lookup
from conformance.mock.session import DEFAULT_MODEL, Action, Close, MockSession, Send, SendBinary, Sleep

CONTRACT = load_contract()
VALID = {"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "instructions": "Be brief."}}
INVALID = {"type": "session.update", "event_id": "c2", "session": {"type": "bogus"}}


def session(*faults: str) -> MockSession:
    return MockSession(CONTRACT, (DEFAULT_MODEL,), tuple(lookup(list(faults))), late_s=6.0)


def events(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def send(mock: MockSession, event: dict[str, Any]) -> list[Action]:
    return mock.on_text(json.dumps(event))


def test_a_connection_opens_with_session_created_of_the_configured_model() -> None:
    (created,) = events(session().on_connect())
    assert created["type"] == "session.created" and created["session"]["model"] == DEFAULT_MODEL
    assert CONTRACT.validators["session.created"].is_valid(created)


def test_a_valid_update_is_answered_once_reflecting_the_patch_and_keeping_the_rest() -> None:
    mock = session()
    (created,) = events(mock.on_connect())
    (updated,) = events(send(mock, VALID))
    assert updated["type"] == "session.updated" and CONTRACT.validators["session.updated"].is_valid(updated)
    assert updated["session"]["instructions"] == "Be brief."
    untouched = {k: v for k, v in created["session"].items() if k != "instructions"}
    assert {k: updated["session"][k] for k in untouched} == untouched
    assert updated["event_id"] != created["event_id"]


def test_an_invalid_update_gets_an_error_echoing_its_event_id_and_changes_nothing() -> None:
    mock = session()
    mock.on_connect()
    before = json.loads(json.dumps(mock.config))
    (error,) = events(send(mock, INVALID))
    assert error["type"] == "error" and error["error"]["event_id"] == "c2"
    assert CONTRACT.validators["error"].is_valid(error)
    assert mock.config == before
    (updated,) = events(send(mock, VALID))  # the connection stays usable
    assert updated["session"]["instructions"] == "Be brief."


def test_a_model_the_folder_does_not_have_is_refused_naming_session_model() -> None:
    mock = session()
    mock.on_connect()
    other = {**VALID, "session": {"type": "realtime", "model": "gpt://b1gotherfolder000000/speech-realtime-250923"}}
    (error,) = events(send(mock, other))
    assert error["type"] == "error" and error["error"]["param"] == "session.model"


def test_unknown_fields_are_ignored_not_refused() -> None:
    mock = session()
    mock.on_connect()
    (updated,) = events(send(mock, {**VALID, "session": {**VALID["session"], "not_documented": 1}}))
    assert updated["type"] == "session.updated" and "not_documented" not in updated["session"]


def test_a_binary_frame_is_refused_with_an_error() -> None:
    mock = session()
    mock.on_connect()
    (error,) = events(mock.on_binary())
    assert error["type"] == "error"


FAULT_ANSWERS = {
    # fault: what the same valid-then-invalid pair of updates gets instead of [updated], [error]
    "never-answers": ([], []),
    "answers-twice": (["session.updated", "session.updated"], ["error"]),
    "accepts-invalid": (["session.updated"], ["session.updated"]),
    "silent-on-invalid": (["session.updated"], []),
    "rejects-valid": (["error"], ["error"]),
}


@pytest.mark.parametrize(("fault", "answers"), FAULT_ANSWERS.items(), ids=FAULT_ANSWERS.keys())
def test_each_fault_changes_exactly_its_answers(fault: str, answers: tuple[list[str], list[str]]) -> None:
    mock = session(fault)
    mock.on_connect()
    got = ([e["type"] for e in events(send(mock, VALID))], [e["type"] for e in events(send(mock, INVALID))])
    assert got == answers
    clean = session()
    clean.on_connect()
    assert ([e["type"] for e in events(send(clean, VALID))], [e["type"] for e in events(send(clean, INVALID))]) == (
        ["session.updated"],
        ["error"],
    )


def test_answers_late_sleeps_first_and_closes_after_error_closes() -> None:
    late = session("answers-late")
    late.on_connect()
    actions = send(late, VALID)
    assert isinstance(actions[0], Sleep) and actions[0].seconds == 6.0 and isinstance(actions[1], Send)
    closing = session("closes-after-error")
    closing.on_connect()
    assert isinstance(send(closing, INVALID)[-1], Close)


def test_framing_faults_send_what_they_say_after_session_created() -> None:
    assert any(isinstance(a, SendBinary) for a in session("binary-frame").on_connect())
    texts = [a.text for a in session("non-json-frame").on_connect() if isinstance(a, Send)]
    assert len(texts) == 2 and json.loads(texts[0])["type"] == "session.created"
    with pytest.raises(ValueError):
        json.loads(texts[1])


# ------------------------------------------------------------------------------ documented behaviour, as a table


def at(event: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of an event, or ABSENT."""
    node: Any = event
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return ABSENT
        node = node[key]
    return node


ABSENT = "<absent>"
OTHER_MODEL = "gpt://b1gotherfolder000000/speech-realtime-250923"


def update(**session: Any) -> str:
    return json.dumps({"type": "session.update", "session": {"type": "realtime", **session}})


#: What the reference mock does with one client frame, sent after VALID was applied: the answer's type
#: and what the answer shows at some paths. A frame given as None is a binary frame.
DOCUMENTED: dict[str, tuple[str | None, str, dict[str, Any]]] = {
    "a patch keeps what it does not set": (
        update(output_modalities=["text"]),
        "session.updated",
        {"session.output_modalities": ["text"], "session.instructions": "Be brief.", "session.model": DEFAULT_MODEL},
    ),
    "a configured model is accepted": (
        update(model=DEFAULT_MODEL),
        "session.updated",
        {"session.model": DEFAULT_MODEL},
    ),
    "another folder's model is refused naming session.model": (
        update(model=OTHER_MODEL),
        "error",
        {"error.param": "session.model", "error.event_id": None},
    ),
    "unknown fields are ignored": (update(x_unknown=1), "session.updated", {"session.x_unknown": ABSENT}),
    "null is taken as not set": (update(instructions=None), "session.updated", {"session.instructions": "Be brief."}),
    "the server's own id is not the client's to set": (update(id="sess_mine"), "session.updated", {}),
    "null disables a nullable field": (
        update(turn_detection=None),
        "session.updated",
        {"session.turn_detection": None},
    ),
    "an update without session.type is accepted (the documents disagree)": (
        json.dumps({"type": "session.update", "session": {"instructions": "Terse."}}),
        "session.updated",
        {"session.instructions": "Terse.", "session.type": "realtime"},
    ),
    "a wrongly typed field is refused naming it": (
        update(instructions=7),
        "error",
        {"error.param": "session.instructions", "error.type": "invalid_request_error"},
    ),
    "a session.type outside the enum is refused, echoing the event_id": (
        json.dumps(INVALID),
        "error",
        {"error.event_id": "c2", "error.param": "session.type"},
    ),
    "a text frame that is not JSON is refused": ("not json", "error", {"error.event_id": None}),
    "a JSON array is refused": ("[1]", "error", {}),
    "another event type is refused": (json.dumps({"type": "session.updat", "session": {}}), "error", {}),
    "an update without session is refused": (json.dumps({"type": "session.update", "event_id": "c9"}), "error", {}),
    "a binary frame is refused": (None, "error", {}),
}


@pytest.mark.parametrize(("sent", "answer", "shows"), DOCUMENTED.values(), ids=DOCUMENTED.keys())
def test_the_mock_answers_as_documented(sent: str | None, answer: str, shows: dict[str, Any]) -> None:
    mock = session()
    (created,) = events(mock.on_connect())
    (applied,) = events(send(mock, VALID))
    before = json.loads(json.dumps(mock.config))
    actions = mock.on_text(sent) if sent is not None else mock.on_binary()
    assert all(isinstance(a, Send) for a in actions)  # no sleeping, closing or binary frames without a fault
    (got,) = events(actions)
    assert got["type"] == answer and CONTRACT.validators[answer].is_valid(got)
    assert {path: at(got, path) for path in shows} == shows
    assert len({created["event_id"], applied["event_id"], got["event_id"]}) == 3  # unique within the connection
    if answer == "error":
        assert mock.config == before  # the session keeps its previous configuration
    else:
        assert got["session"]["id"] == created["session"]["id"]  # the session's id stays
        assert set(got["session"]) >= set(created["session"])  # the full effective configuration
    (after,) = events(send(mock, {**VALID, "event_id": "c3"}))  # the connection stays usable
    assert after["type"] == "session.updated"


# --------------------------------------------------------------------------------- every fault, as a table

FRAMES = {
    "valid": json.dumps(VALID),
    "invalid": json.dumps({**INVALID, "session": {"type": "bogus", "instructions": "Leaked."}}),
    "valid after an error": update(output_modalities=["text"]),
    "valid after an update": json.dumps({**VALID, "event_id": "c4", "session": {"type": "realtime"}}),
    "undetermined": json.dumps({**VALID, "event_id": "c5", "session": {"type": "realtime", "speed_up": 2}}),
}


def trace(mock: MockSession) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """What a session does on connect and with FRAMES in order: each step's actions named, and its events."""

    def named(action: Action) -> str:
        if isinstance(action, Send):
            try:
                event = json.loads(action.text)
            except ValueError:
                return "not JSON"
            return str(event.get("type")) if isinstance(event, dict) else "not an object"
        if isinstance(action, Close):
            return f"close {action.code}"
        return "binary" if isinstance(action, SendBinary) else f"sleep {action.seconds}"

    steps = {"connect": mock.on_connect()} | {name: mock.on_text(text) for name, text in FRAMES.items()}
    names = [" + ".join(named(a) for a in actions) or "nothing" for actions in steps.values()]
    sent = {step: [e for e in map(parse, actions) if e is not None] for step, actions in steps.items()}
    return names, sent


def parse(action: Action) -> dict[str, Any] | None:
    if not isinstance(action, Send):
        return None
    try:
        event = json.loads(action.text)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


CLEAN = ["session.created", "session.updated", "error", "session.updated", "session.updated", "session.updated"]
#: Each behaviour fault's steps (connect, then FRAMES) where they differ from CLEAN.
BEHAVIOUR_TRACES: dict[str, dict[int, str]] = {
    "never-answers": {1: "nothing", 2: "nothing", 3: "nothing", 4: "nothing", 5: "nothing"},
    "answers-late": {step: "sleep 6.0 + session.updated" for step in (1, 3, 4)},  # right after an error too
    "answers-twice": {1: "session.updated + session.updated", 3: "session.updated + session.updated"}
    | {4: "session.updated + session.updated"},
    "rejects-valid": {1: "error", 3: "error", 4: "error"},
    "accepts-invalid": {2: "session.updated"},
    "silent-on-invalid": {2: "nothing"},
    "silent-on-undetermined": {5: "nothing"},
    "updates-and-rejects": {step: "session.updated + error" for step in (1, 3, 4, 5)},
    "closes-after-error": {2: "error + close 1008"},
    "deaf-after-error": {3: "nothing", 4: "nothing", 5: "nothing"},
    "closes-mid-exchange": {4: "close 1011"},  # a valid update after a session.updated
    "no-session-created": {0: "nothing"},
    "non-json-frame": {0: "session.created + not JSON"},
    "binary-frame": {0: "session.created + binary"},
}
#: Faults whose steps are CLEAN's but whose events say something else: what they show instead.
CONTENT_FAULTS: dict[str, Callable[[dict[str, list[dict[str, Any]]]], bool]] = {
    "applies-rejected": lambda e: e["valid after an error"][0]["session"]["instructions"] == "Leaked.",
    "resets-unset-fields": lambda e: (
        e["valid after an error"][0]["session"]["instructions"] == e["connect"][0]["session"]["instructions"]
        and e["valid after an update"][0]["session"]["output_modalities"]
        == e["connect"][0]["session"]["output_modalities"]
    ),
    "resets-after-error": lambda e: (
        e["valid after an error"][0]["session"]["instructions"] == e["connect"][0]["session"]["instructions"]
        and e["valid after an update"][0]["session"]["output_modalities"] == ["text"]
    ),
    "wrong-error-echo": lambda e: e["invalid"][0]["error"]["event_id"] == "event_not_yours",
    "changes-session-id": lambda e: len({e[s][0]["session"]["id"] for s in ("connect", "valid")}) == 2,
    "repeats-event-id": lambda e: e["valid"][0]["event_id"] == e["connect"][0]["event_id"],
}
#: Faults of the handshake (mock/server.py), which leave the session's answers as they are.
HANDSHAKE_FAULTS = {f.name for f in FAULTS if f.outcome}


def test_every_fault_has_a_row() -> None:
    mutating = {f.name for f in FAULTS if f.mutate is not None}
    rows = [*BEHAVIOUR_TRACES, *CONTENT_FAULTS, *mutating, *HANDSHAKE_FAULTS]
    assert sorted(rows) == sorted(f.name for f in FAULTS)  # each fault in exactly one table


def test_the_clean_session_gives_the_clean_trace() -> None:
    names, sent = trace(session())
    assert names == CLEAN
    assert sent["valid after an error"][0]["session"]["instructions"] == "Be brief."  # nothing leaked, nothing reset
    assert sent["valid after an update"][0]["session"]["output_modalities"] == ["text"]
    assert sent["invalid"][0]["error"]["event_id"] == "c2"
    assert len({e["event_id"] for step in sent.values() for e in step}) == len(CLEAN)
    assert len({e["session"]["id"] for step in sent.values() for e in step if "session" in e}) == 1


@pytest.mark.parametrize("fault", sorted(BEHAVIOUR_TRACES))
def test_a_behaviour_fault_changes_exactly_its_steps(fault: str) -> None:
    names, _ = trace(session(fault))
    expected = [BEHAVIOUR_TRACES[fault].get(i, step) for i, step in enumerate(CLEAN)]
    assert names == expected


@pytest.mark.parametrize("fault", sorted(CONTENT_FAULTS))
def test_a_content_fault_keeps_the_steps_and_changes_what_they_show(fault: str) -> None:
    names, sent = trace(session(fault))
    assert names == CLEAN
    assert CONTENT_FAULTS[fault](sent)
    assert not CONTENT_FAULTS[fault](trace(session())[1])  # the clean session does not show it


MUTATING = [f for f in FAULTS if f.mutate is not None]


def same_but_ids(a: Any, b: Any) -> bool:
    """Equal once the server-made identifiers (event_id, session.id: fresh per session) are set aside."""

    def blank(event: Any) -> Any:
        event = copy.deepcopy(event)
        if isinstance(event, dict):
            event.pop("event_id", None)
            if isinstance(event.get("session"), dict):
                event["session"].pop("id", None)
        return event

    return bool(blank(a) == blank(b))


@pytest.mark.parametrize("fault", MUTATING, ids=[f.name for f in MUTATING])
def test_a_rewriting_fault_breaks_exactly_the_events_of_its_type(fault: Fault) -> None:
    names, sent = trace(session(fault.name))
    clean_names, clean = trace(session())
    assert [n.count(" + ") for n in names] == [n.count(" + ") for n in clean_names]  # as many actions, step by step
    rewritten = 0
    for step, got in sent.items():
        for faulty, reference in zip(got, clean[step], strict=True):
            if reference["type"] != fault.applies_to:
                assert faulty["type"] == reference["type"]  # other events are left alone
                continue
            rewritten += 1
            expected = copy.deepcopy(reference)
            assert fault.mutate is not None
            fault.mutate(expected)
            assert same_but_ids(faulty, expected)  # exactly the fault's rewrite, nothing else
            if not all(fault.applies_to in CONTRACT.requirement(r).events for r in fault.trips):
                assert check_event(faulty, CONTRACT) == []  # well-formed: only the exchange shows it
                continue
            assert not CONTRACT.validators[fault.applies_to].is_valid(faulty)  # the contract rejects it
            if faulty.get("type") == fault.applies_to:  # judged as its own type: exactly its requirement
                assert {v.requirement for v in check_event(faulty, CONTRACT)} == set(fault.trips)
            else:  # renamed: no longer that event, which only the exchange around it can tell
                assert fault.trips == (
                    next(r.id for r in CONTRACT.requirements if r.path == "type" and fault.applies_to in r.events),
                )
    assert rewritten > 0


@pytest.mark.parametrize("fault", sorted(HANDSHAKE_FAULTS))
def test_a_handshake_fault_leaves_the_session_as_documented(fault: str) -> None:
    assert trace(session(fault))[0] == CLEAN

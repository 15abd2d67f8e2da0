"""The mock's protocol logic with plain data, h11-style: frames in, actions out, no socket.

`MockSession` is what the reference mock serves; these tests pin its documented behaviour one
event at a time, and each fault against the same input, without a server or a clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.contract import load_contract
from conformance.mock import lookup
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

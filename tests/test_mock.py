"""The reference mock: conforming when clean, and each fault trips exactly what it declares."""

from __future__ import annotations

import json

import pytest

from conformance.contract import load_contract
from conformance.mock import DEFAULT_MODEL, FAULTS, Fault, MockConfig, lookup
from conformance.verdict.results import evaluate
from conformance.wire.transport import Auth, ConnectFailed, Limits, open_session
from tests.harness import FAST, LATE_S, judged, run, scripted_against

CONTRACT = load_contract()
BEHAVIOUR_FAULTS = [f for f in FAULTS if not f.outcome]


def test_clean_mock_passes_every_requirement_on_the_scripted_exchanges() -> None:
    log = run(scripted_against(MockConfig()))
    assert log.failure is None
    results = evaluate(CONTRACT, judged(log))
    assert [r.requirement.id for r in results if r.status != "passed"] == []


def test_every_requirement_has_a_fault_that_trips_it() -> None:
    tripped = {rid for fault in FAULTS for rid in fault.trips}
    assert set(CONTRACT.ids) - tripped == set()
    assert tripped <= set(CONTRACT.ids)


@pytest.mark.parametrize("fault", BEHAVIOUR_FAULTS, ids=[f.name for f in BEHAVIOUR_FAULTS])
def test_fault_trips_exactly_its_declared_requirements(fault: Fault) -> None:
    log = run(scripted_against(MockConfig(faults=(fault,), late_s=LATE_S)))
    assert log.failure is None
    judgement = judged(log)
    found = {v.requirement for v in judgement.violations}
    assert set(fault.trips) <= found <= set(fault.trips) | set(fault.may_trip), judgement.violations


def test_rejects_handshake_fault_fails_the_handshake_with_403() -> None:
    log = run(scripted_against(MockConfig(faults=lookup(["rejects-handshake"]))))
    assert isinstance(log.failure, ConnectFailed)
    assert (log.failure.kind, log.failure.status) == ("handshake-rejected", 403)
    assert log.transcripts == []


def test_hangs_handshake_fault_ends_in_a_connect_timeout() -> None:
    log = run(scripted_against(MockConfig(faults=lookup(["hangs-handshake"])), Limits(connect_s=0.3)))
    assert isinstance(log.failure, ConnectFailed) and log.failure.kind == "timeout"


def test_unknown_fault_name_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown fault"):
        lookup(["no-such-fault"])


async def _first_frames(url: str, auth: Auth, updates: list[str]) -> list[dict[str, object]]:
    session = await open_session(url, auth, FAST)
    assert not isinstance(session, ConnectFailed), session
    for text in updates:
        await session.send(text)
    frames = []
    for _ in range(len(updates) + 1):
        frame = await session.receive(1.0)
        assert hasattr(frame, "text"), frame
        frames.append(json.loads(frame.text))  # type: ignore[union-attr]
    await session.close()
    return frames


def test_mock_sends_created_then_applies_a_patch_and_ignores_unknown_fields() -> None:
    from conformance.mock import serve_mock

    async def scenario() -> list[dict[str, object]]:
        async with serve_mock() as url:
            update = {"type": "session.update", "session": {"type": "realtime", "instructions": "X", "unknown": 1}}
            return await _first_frames(url, Auth(), [json.dumps(update)])

    created, updated = run(scenario())
    assert created["type"] == "session.created" and created["session"]["model"] == DEFAULT_MODEL  # type: ignore[index]
    session = updated["session"]
    assert updated["type"] == "session.updated"
    assert session["instructions"] == "X" and "unknown" not in session  # type: ignore[index,operator]
    assert session["tools"] == created["session"]["tools"]  # type: ignore[index]


def test_mock_rejects_a_model_it_was_not_configured_with() -> None:
    from conformance.mock import serve_mock

    async def scenario() -> list[dict[str, object]]:
        async with serve_mock() as url:
            other = "gpt://b1gotherfolder000000/speech-realtime-250923"
            update = {"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "model": other}}
            return await _first_frames(url, Auth(), [json.dumps(update)])

    _, error = run(scenario())
    assert error["type"] == "error"
    assert error["error"]["param"] == "session.model" and error["error"]["event_id"] == "c1"  # type: ignore[index]


@pytest.mark.parametrize(
    ("header", "accepted"),
    [("api-key s3cret-value", True), ("Bearer s3cret-value", True), ("api-key wrong", False), (None, False)],
)
def test_mock_with_required_api_key_checks_the_authorization_header(header: str | None, accepted: bool) -> None:
    from conformance.mock import serve_mock

    async def scenario() -> object:
        async with serve_mock(MockConfig(api_key="s3cret-value")) as url:
            auth = Auth(headers=(("Authorization", header),) if header else (), secrets=("s3cret-value",))
            session = await open_session(url, auth, FAST)
            if not isinstance(session, ConnectFailed):
                await session.close()
            return session

    result = run(scenario())
    if accepted:
        assert not isinstance(result, ConnectFailed)
    else:
        assert isinstance(result, ConnectFailed) and result.status == 401
        assert "authentication rejected" in result.message

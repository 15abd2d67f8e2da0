"""Invalid server events are explained from jsonschema-rs' own errors (`checks.frames`): the findings
(requirement, path, message, in order) must be exactly what Python `jsonschema`'s explanation gives,
and both validators must agree on valid or invalid, on many generated broken events of both dialects.

The broken events are valid events of each server type (the mock's own sessions, an error) with one
to three members replaced by arbitrary JSON or removed, anywhere in the event.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from conformance.checks import check_event
from conformance.checks.frames import _explained, _explained_fast
from conformance.contract import DIALECTS, Contract, load_contract
from conformance.mock.session import default_models, initial_session

SETTINGS = settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "realtime", "transcription", "session.updated", "error", "audio", "text", "server_vad"]),
    st.text(max_size=6),
)
ANY_JSON = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)


def valid_events(contract: Contract) -> list[dict[str, Any]]:
    """One valid event of each documented server type (each session type for those carrying a session)."""
    model = default_models(contract)[0]
    sessions = [initial_session(model, contract, kind) for kind in ("realtime", "transcription")]
    error = {"type": "invalid_request_error", "code": "bad", "message": "no", "param": None, "event_id": "c1"}
    carrying = ("session.created", "session.updated")
    events = [{"type": t, "event_id": "e1", "session": s} for t in carrying for s in sessions]
    events.append({"type": "error", "event_id": "e2", "error": error})
    assert all(contract.fast[e["type"]].is_valid(e) for e in events), "the base events must be valid"
    return events


def paths(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member's path in a JSON value (the root's members included, the root itself not)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*where, key))
        found += paths(child, (*where, key))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any, remove: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if not rest and remove and isinstance(copy, dict):
        del copy[head]
    else:
        copy[head] = replaced(copy[head], rest, new, remove)
    return copy


@st.composite
def broken_events(draw: st.DrawFn, dialect: str) -> tuple[str, Any]:
    """(its type, the broken event)."""
    contract = load_contract(None, dialect)
    event: Any = draw(st.sampled_from(valid_events(contract)))
    event_type = event["type"]
    for _ in range(draw(st.integers(1, 3))):
        where = [p for p in paths(event) if p != ("type",)]  # its type is how it was recognised
        if not where:
            break
        path = draw(st.sampled_from(where))
        event = replaced(event, path, draw(ANY_JSON), draw(st.booleans()))
    return event_type, event


def shown(violations: list[Any]) -> list[tuple[str, str, str]]:
    return [(v.requirement, v.path, v.message) for v in violations]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_invalid_events_are_explained_as_python_jsonschema_explains_them(dialect: str) -> None:
    contract = load_contract(None, dialect)
    fast_explained: list[bool] = []

    @given(broken_events(dialect))
    @SETTINGS
    def explained_alike(generated: tuple[str, Any]) -> None:
        event_type, event = generated
        judged_by = contract.judged_by[event_type]
        invalid = not contract.validators[judged_by.event].is_valid(event)
        assert contract.fast[judged_by.event].is_valid(event) != invalid
        if not invalid:
            return
        reference = shown(_explained(event, contract, judged_by, None))
        assert reference, "an invalid event is always explained"
        fast = _explained_fast(event, contract, judged_by, None)
        fast_explained.append(fast is not None)
        if fast is not None:
            assert shown(fast) == reference
        assert shown(check_event(event, contract, as_type=event_type)) == reference

    explained_alike()
    # the fast explanation must be what explains (Python jsonschema only where it cannot say it)
    assert fast_explained and sum(fast_explained) > len(fast_explained) / 2, fast_explained.count(False)

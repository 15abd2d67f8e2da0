"""Hypothesis properties of the checks and the oracle, over events generated from the schemas."""

from __future__ import annotations

import json
import math
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode

from conformance.checks import check_event
from conformance.contract import SCHEMA_DIR, SPEC_DIR, load_contract, read_json
from conformance.contract.oracle import classify

CONTRACT = load_contract()
OPENAPI = schemathesis.openapi.from_dict(read_json(SPEC_DIR / "openapi.json"))
SESSION_FIELDS: dict[str, Any] = read_json(SCHEMA_DIR / "realtime-session.json")["properties"]
SETTINGS = settings(max_examples=60, database=None, deadline=None, suppress_health_check=list(HealthCheck))

ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def bodies(event: str, mode: GenerationMode = GenerationMode.POSITIVE) -> st.SearchStrategy[Any]:
    side = "client-events" if event == "session.update" else "server-events"
    operation = OPENAPI[f"/v1/realtime/{side}/{event}"]["POST"]
    return operation.as_strategy(generation_mode=mode).map(lambda case: case.body)


def field_requirement(field: str) -> str:
    """The catalogue entry judging a field's JSON type (looked up in the data, not the checks)."""
    matches = [
        r.id
        for r in CONTRACT.requirements
        if r.events and r.path == f"session.{field}" and (not r.keywords or "type" in r.keywords)
    ]
    assert len(matches) == 1, (field, matches)
    return matches[0]


@given(
    st.sampled_from(["session.created", "session.updated", "error"]).flatmap(lambda e: st.tuples(st.just(e), bodies(e)))
)
@SETTINGS
def test_events_generated_from_the_schemas_pass_the_event_checks(generated: tuple[str, Any]) -> None:
    event_type, event = generated
    assert event["type"] == event_type  # judged by its own type, as a frame on the wire is
    assert check_event(event, CONTRACT) == []


@st.composite
def broken_session_updated(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    event = draw(bodies("session.updated"))
    field = draw(st.sampled_from(sorted(SESSION_FIELDS)))
    allowed = Draft202012Validator({"type": SESSION_FIELDS[field]["type"]})
    wrong = draw(ANY_JSON.filter(lambda v: not allowed.is_valid(v)))
    event["session"][field] = wrong
    return event, field


@given(broken_session_updated())
@SETTINGS
def test_breaking_one_field_with_a_wrong_type_violates_exactly_that_fields_requirement(
    generated: tuple[dict[str, Any], str],
) -> None:
    event, field = generated
    found = {v.requirement for v in check_event(event, CONTRACT)}
    assert found == {field_requirement(field)}


@given(bodies("session.updated"), st.sampled_from(["event_id", "session"]), ANY_JSON)
@SETTINGS
def test_breaking_the_envelope_violates_exactly_the_envelope_requirement(
    event: dict[str, Any], key: str, value: Any
) -> None:
    if key == "event_id" and isinstance(value, str) and value:
        value = 0
    if key == "session" and isinstance(value, dict):
        value = []
    event[key] = value
    found = {v.requirement for v in check_event(event, CONTRACT)}
    assert found == {"SU-EVENT-ID" if key == "event_id" else "SU-SESSION"}


UPDATE_VALIDATOR = CONTRACT.validators["session.update"]


@given(
    st.one_of(
        bodies("session.update", GenerationMode.NEGATIVE),
        bodies("session.update"),
        ANY_JSON,
        st.builds(
            lambda s: {"type": "session.update", "session": s},
            st.dictionaries(st.sampled_from(sorted(SESSION_FIELDS)), ANY_JSON, max_size=3),
        ),
    )
)
@SETTINGS
def test_the_oracle_never_calls_a_schema_invalid_update_valid(body: Any) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else json.dumps(body)
    kind = classify(text, CONTRACT).kind
    if kind == "valid":
        assert UPDATE_VALIDATOR.is_valid(json.loads(text))
    if not isinstance(body, bytes) and not UPDATE_VALIDATOR.is_valid(body):
        # spec-notes, "null in a client event": a null for an optional field may mean "not set"; and
        # a value in a field the server owns may be ignored, whatever it is.
        assert kind == "invalid" or (kind == "undetermined" and UPDATE_VALIDATOR.is_valid(without_unjudged(body)))


def without_unjudged(body: dict[str, Any]) -> dict[str, Any]:
    """The update without what proves nothing either way: the nulls of its optional fields (`type` and
    `session` are required) and the fields the server owns (`read_only`: it may ignore them)."""
    out = {k: v for k, v in body.items() if v is not None or k in ("type", "session")}
    if isinstance(out.get("session"), dict):
        out["session"] = {k: v for k, v in out["session"].items() if v is not None and k not in CONTRACT.read_only}
    return out


FRAME = st.one_of(
    st.builds(
        lambda d, t, x: {"direction": d, "time": t, "text": x},
        st.sampled_from(["client", "server"]),
        st.floats(0, 10),
        st.one_of(
            st.text(max_size=20),
            bodies("session.update").map(json.dumps),
            bodies("session.updated").map(json.dumps),
            bodies("error").map(json.dumps),
        ),
    ),
    st.builds(
        lambda t, n: {"direction": "server", "time": t, "binary_length": n}, st.floats(0, 10), st.integers(0, 99)
    ),
    st.builds(
        lambda d, t, c: {"direction": d, "time": t, "close": c},
        st.sampled_from(["client", "server"]),
        st.floats(0, 10),
        st.one_of(st.none(), st.integers(1000, 4999)),
    ),
)


@given(st.lists(FRAME, max_size=12).map(lambda frames: sorted(frames, key=lambda f: f["time"])))
@SETTINGS
def test_judging_any_transcript_never_raises_and_names_only_catalogue_ids(frames: list[dict[str, Any]]) -> None:
    from conformance.checks import judge
    from conformance.transcript import Transcript, frame_from_json

    transcript = Transcript("", 1.0, (), tuple(frame_from_json(f, "frame") for f in frames))
    judgement = judge(transcript, CONTRACT)
    assert {v.requirement for v in judgement.violations} <= set(CONTRACT.ids)
    assert set(judgement.exercised) <= set(CONTRACT.ids)


@given(
    st.sampled_from(["session.update", "session.created", "session.updated", "error"]).flatmap(
        lambda e: st.tuples(
            st.just(e),
            st.one_of(
                bodies(e),
                bodies(e, GenerationMode.NEGATIVE).filter(lambda b: not isinstance(b, bytes)),
                broken_session_updated().map(lambda pair: pair[0]),
                ANY_JSON,
            ),
        )
    )
)
@SETTINGS
def test_the_fast_validator_and_the_explaining_one_always_agree(generated: tuple[str, Any]) -> None:
    """jsonschema-rs answers the common case; a disagreement would hide a violation or invent one."""
    event_type, event = generated
    assert CONTRACT.fast[event_type].is_valid(event) == CONTRACT.validators[event_type].is_valid(event)
    session = event.get("session") if isinstance(event, dict) else None
    if isinstance(session, dict):
        assert CONTRACT.fast_known_values.is_valid(session) == CONTRACT.known_values.is_valid(session)


def json_values(finite: bool) -> st.SearchStrategy[Any]:
    floats = st.floats(allow_nan=not finite, allow_infinity=not finite)
    return st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.integers(2**62, 2**80), floats, st.text(max_size=8)),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
        max_leaves=12,
    )


@given(json_values(finite=False), st.booleans())
@SETTINGS
def test_parse_json_is_json_loads(value: Any, ascii_only: bool) -> None:
    """The fast parser gives exactly what json.loads gives (big integers and all), except that
    NaN and Infinity, which RFC 8259 does not allow, are refused."""
    from conformance.transcript import parse_json

    text = json.dumps(value, ensure_ascii=ascii_only)
    if not finite(value):
        with pytest.raises(json.JSONDecodeError):
            parse_json(text)
        return
    assert json.dumps(parse_json(text)) == json.dumps(json.loads(text))


def finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


@given(json_values(finite=True))
@SETTINGS
def test_dump_json_writes_what_json_dumps_means(value: Any) -> None:
    from conformance.transcript import dump_json

    assert json.loads(dump_json(value)) == json.loads(json.dumps(value))


@given(st.lists(st.tuples(st.sampled_from(["client", "server"]), st.text()), max_size=6))
@SETTINGS
def test_a_transcript_survives_its_own_jsonl(frames: list[tuple[str, str]]) -> None:
    """Any frame text (U+2028, U+0085 and all) comes back from the JSONL exactly as it was recorded."""
    from conformance.transcript import Frame, Transcript, parse_jsonl

    original = Transcript("ws://x", 2.0, ("m",), tuple(Frame(d, float(i), text=t) for i, (d, t) in enumerate(frames)))  # type: ignore[arg-type]
    if frames:
        assert parse_jsonl(original.to_jsonl()) == [original]

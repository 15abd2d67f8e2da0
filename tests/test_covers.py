"""Reflection's `covers` (an answer carries what an update set) takes a shortcut in C for equal values;
it must answer exactly what the plain walk of its definition answers, on any JSON values (`true` is
not `1`, `1` is `1.0`, an infinity is not `null`, an object may hold more keys, a null set may be left out).
Judging pauses the cyclic collector and restores it as it was."""

from __future__ import annotations

import copy
import gc
import sys
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from conformance.checks import judge
from conformance.checks.configuration import covers
from conformance.contract import load_contract
from conformance.transcript import Frame, Transcript

SETTINGS = settings(max_examples=400, database=None, deadline=None, suppress_health_check=list(HealthCheck))
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 0.0, 1.0, -0.0, float("inf"), float("-inf"), 2**70]),
    st.integers(-2, 2),
    st.floats(allow_nan=False),
    st.sampled_from(["", "a", "true", "null", "\ud800"]),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    max_leaves=10,
)


def walked(expected: Any, actual: Any) -> bool:
    """The definition, walked: equal JSON values, where an object may hold more keys and a null set
    may be left out."""
    kind, other = type(expected), type(actual)
    if kind is dict:
        return other is dict and all(walked(v, actual[k]) if k in actual else v is None for k, v in expected.items())
    if kind is list:
        return other is list and len(actual) == len(expected) and all(map(walked, expected, actual))
    if kind is bool or other is bool:
        return expected is actual
    if kind in (int, float) and other in (int, float):
        return bool(expected == actual)
    return kind is other and bool(expected == actual)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """A value and another: unrelated, an exact copy, or a copy with one leaf or member changed."""
    expected = draw(VALUES)
    how = draw(st.sampled_from(["other", "copy", "changed"]))
    if how == "other":
        return expected, draw(VALUES)
    actual = copy.deepcopy(expected)
    if how == "changed":
        node = actual
        while isinstance(node, (dict, list)) and node:
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
                node[key] = draw(LEAVES)
                break
            node = node[key]
        if isinstance(node, dict):
            node[draw(st.sampled_from("abcd"))] = draw(LEAVES)  # one more key, or one changed
    return expected, actual


@given(pairs())
@SETTINGS
def test_covers_answers_what_its_definition_answers(pair: tuple[Any, Any]) -> None:
    expected, actual = pair
    assert covers(expected, actual) == walked(expected, actual)


@given(st.lists(pairs(), max_size=5))
@SETTINGS
def test_covers_of_the_fields_together_is_covers_of_each(fields: list[tuple[Any, Any]]) -> None:
    """Reflection and the patch rule compare all of an update's fields at once, and field by field only
    when that fails: the same answer as every field's own comparison."""
    expected = {f"f{i}": value for i, (value, _) in enumerate(fields)}
    actual = {f"f{i}": value for i, (_, value) in enumerate(fields)}
    assert covers(expected, actual) == all(covers(expected[key], actual[key]) for key in expected)


def test_covers_tells_true_from_one_and_infinity_from_null() -> None:
    assert not covers({"a": [True]}, {"a": [1]})
    assert not covers([1.0], [True])
    assert not covers({"a": float("inf")}, {"a": None})
    assert covers({"a": 1}, {"a": 1.0, "b": 2})
    assert covers({"a": None}, {})


def test_judging_restores_the_collector_as_it_found_it() -> None:
    created = '{"type": "session.created", "event_id": "e1", "session": {}}'
    transcript = Transcript("ws://127.0.0.1:1/", 1.0, frames=(Frame("server", 0.0, created),))
    contract = load_contract()
    was = gc.isenabled()
    try:
        gc.enable()
        judge(transcript, contract)
        assert gc.isenabled()
        gc.disable()
        judge(transcript, contract)
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def nested(depth: int, bottom: Any) -> Any:
    value: Any = bottom
    for _ in range(depth):
        value = {"x": [value]}
    return value


def test_covers_takes_values_nested_deeper_than_python_recurses() -> None:
    """A hostile server may nest a value as deep as it likes: comparing it gives an answer, never an
    error that would stop judging."""
    depth = 3 * sys.getrecursionlimit()
    assert covers(nested(depth, 1), nested(depth, 1))
    assert not covers(nested(depth, 1), nested(depth, True))
    assert covers(nested(depth, {"a": None}), nested(depth, {}))


def test_a_change_nested_deeper_than_python_recurses_is_judged_not_a_crash() -> None:
    """A server that changes a value nested hundreds deep in a field the update did not set breaks the
    patch rule; judging says so (its message shows the value as too deep) instead of raising."""
    depth = sys.getrecursionlimit() - 300  # orjson reads it; Python's recursive walks would not
    model = "gpt://f/speech-realtime-250923"

    def session(bottom: int) -> str:
        default = "[" * depth + str(bottom) + "]" * depth
        tool = '{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object", '
        tool += '"properties": {"x": {"type": "array", "default": ' + default + "}}}}"
        head = f'"id": "s1", "object": "realtime.session", "model": "{model}", "type": "realtime"'
        return "{" + head + ', "tools": [' + tool + '], "instructions": "b"}'

    created = '{"type": "session.created", "event_id": "e1", "session": ' + session(1) + "}"
    update = '{"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "instructions": "b"}}'
    updated = '{"type": "session.updated", "event_id": "e2", "session": ' + session(2) + "}"
    frames = (
        Frame("server", 0.0, created),
        Frame("client", 0.1, update),
        Frame("server", 0.2, updated),
        Frame("client", 1.5, close_code=1000),
    )
    transcript = Transcript(f"ws://127.0.0.1:1/v1/realtime?model={model}", 1.0, (model,), frames, "deep")
    violations = judge(transcript, load_contract()).violations
    assert [v.requirement for v in violations] == ["EX-PATCH-KEEPS-UNSET"], violations
    assert "too deep" in violations[0].message

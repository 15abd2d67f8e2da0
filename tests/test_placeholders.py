"""Filling a plan's placeholders hands on the filled text's JSON value, so the sent frame is not parsed
again: that value must be the text's parse exactly, whatever the planned text holds (escapes, the
placeholder elsewhere, duplicate keys, odd spacing), or judging would judge another frame."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.contract.oracle import TYPE_PLACEHOLDER
from conformance.generate.plan import MODEL_PLACEHOLDER
from conformance.run.placeholders import filled
from conformance.transcript import parse_json

PLACEHOLDERS = (MODEL_PLACEHOLDER, TYPE_PLACEHOLDER)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(PLACEHOLDERS),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(PLACEHOLDERS), inner, max_size=3)
    ),
    max_leaves=8,
)


def exact(value: Any) -> str:
    """A value's JSON text, keys in their order: `true` is not `1`, nor `1.0` `1`."""
    return json.dumps(value)


@st.composite
def planned(draw: st.DrawFn) -> str:
    """An update whose session may hold either placeholder at model or type, and anywhere else, written
    with any spacing and escaping, some placeholders escaped, some keys duplicated."""
    session = draw(st.dictionaries(st.text(max_size=6), values, max_size=4))
    for key, placeholder in (("model", MODEL_PLACEHOLDER), ("type", TYPE_PLACEHOLDER)):
        if draw(st.booleans()):
            session[key] = placeholder
    event = {"type": "session.update", "session": session}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,  ", " : ")]))
    text = json.dumps(event, ensure_ascii=draw(st.booleans()), separators=separators)
    if draw(st.booleans()):  # the placeholder written escaped at one place
        start = draw(st.integers(0, len(text)))
        at = text.find('"$', start)
        if at != -1:
            text = text[: at + 1] + "\\u0024" + text[at + 2 :]
    if session and draw(st.booleans()):  # a duplicate session member before the rest: the last one wins
        text = text.replace('"session"' + separators[1] + "{", '"session"' + separators[1] + '{"model":1,', 1)
    return text


@settings(max_examples=400, deadline=None)
@given(
    planned(),
    st.sampled_from([None, "gpt-x", 'a "quoted" model \u00e9', TYPE_PLACEHOLDER]),
    st.sampled_from(["realtime", "x\\y", MODEL_PLACEHOLDER]),
)
def test_the_value_handed_on_is_the_filled_texts_parse_exactly(text: str, model: str | None, kind: str) -> None:
    sent, parsed = filled(text, model, kind)
    if parsed is not None:
        assert exact(parsed) == exact(parse_json(sent))
    session = parse_json(sent)["session"]
    original = parse_json(text)["session"]
    if "\\u0024" in text:  # a placeholder written escaped is no plan's: it may stay as it is
        return
    if original.get("type") == TYPE_PLACEHOLDER:
        assert session.get("type") == kind
    if original.get("model") == MODEL_PLACEHOLDER:
        assert session.get("model", None) == model if model is not None else "model" not in session


def test_a_text_without_a_placeholder_is_sent_as_planned_and_not_parsed() -> None:
    text = json.dumps({"type": "session.update", "session": {"model": "m", "type": "realtime"}})
    assert filled(text, "gpt-x", "transcription") == (text, None)

"""Filling a plan's placeholders with what the connection learned (the model and session type that
session.created announced): in place, so every other byte of a planned frame is sent as planned."""

from __future__ import annotations

import json
from typing import Any

from conformance.contract.oracle import TYPE_PLACEHOLDER
from conformance.generate.plan import MODEL_PLACEHOLDER
from conformance.transcript import parse_json


def _placed(text: str, key: str, placeholder: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The event and its session when the plan put `placeholder` as `session.<key>` (that one key: the
    placeholder anywhere else, in instructions say, is no place to fill)."""
    if json.dumps(placeholder) not in text:
        return None
    try:
        parsed = parse_json(text)  # may be a shared value (parsing_once): changed only in copies
    except (ValueError, RecursionError):
        return None
    session = parsed.get("session") if isinstance(parsed, dict) else None
    if not isinstance(session, dict) or session.get(key) != placeholder:
        return None
    return parsed, session


def _spliced(text: str, placed: tuple[dict[str, Any], dict[str, Any]], key: str, placeholder: str, value: str) -> str:
    """`text` with `session.<key>`'s placeholder replaced by `value` in place: every other byte is sent as
    planned (re-serialising could change numbers, duplicate keys or escapes a probe means to send)."""
    mark, written = json.dumps(placeholder), json.dumps(value)
    if text.count(mark) == 1:  # session.<key>'s, since it holds the placeholder: the common case
        return text.replace(mark, written)
    event, session = placed
    wanted = {**event, "session": {**session, key: value}}
    start = text.find(mark)
    while start != -1:  # the one occurrence whose replacement changes session.<key> and nothing else
        spliced = text[:start] + written + text[start + len(mark) :]
        try:
            if parse_json(spliced) == wanted:
                return spliced
        except (ValueError, RecursionError):
            pass
        start = text.find(mark, start + 1)
    return text


def with_type(text: str, kind: str) -> str:
    """Put the session type the opening session.created announced where a plan has the placeholder as
    `session.type`."""
    placed = _placed(text, "type", TYPE_PLACEHOLDER)
    return text if placed is None else _spliced(text, placed, "type", TYPE_PLACEHOLDER, kind)


def with_model(text: str, model: str | None) -> str:
    """Put the known model where a plan has the placeholder as `session.model`, or drop the field if
    none is known."""
    placed = _placed(text, "model", MODEL_PLACEHOLDER)
    if placed is None:
        return text
    if model is not None:
        return _spliced(text, placed, "model", MODEL_PLACEHOLDER, model)
    event, session = placed
    kept = {key: value for key, value in session.items() if key != "model"}
    return json.dumps({**event, "session": kept}, ensure_ascii=text.isascii())

"""Filling a plan's placeholders with what the connection learned (the model and session type that
session.created announced): in place, so every other byte of a planned frame is sent as planned.

The planned text is parsed once, if a placeholder is in it at all; the filled text's JSON value is
handed on with it, so the sent frame is not parsed again (`Frame.knowing`).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from conformance.contract.oracle import TYPE_PLACEHOLDER
from conformance.generate.plan import MODEL_PLACEHOLDER
from conformance.transcript import parse_json

#: Each placeholder as a JSON string token, as a plan writes it.
_MARKS = {placeholder: json.dumps(placeholder) for placeholder in (TYPE_PLACEHOLDER, MODEL_PLACEHOLDER)}
#: A `"model":` key just before a value, with the comma before it when it is not the first member.
_MODEL_KEY = re.compile(r'(,\s*)?"model"\s*:\s*\Z')
_COMMA_AFTER = re.compile(r"\s*,")
#: An escape that may spell a printable ASCII character, as a placeholder's are (`\u0024` for `$`).
_ASCII_ESCAPE = re.compile(r"\\u00[2-7]")


def _parsed(text: str) -> Any:
    """`text`'s JSON value, or None when it is none (never a JSON `null` here: that holds no placeholder)."""
    try:
        return parse_json(text)  # may be a shared value (parsing_once): changed only in copies
    except (ValueError, RecursionError):
        return None


def _session(parsed: Any, key: str, placeholder: str) -> dict[str, Any] | None:
    """The event's session when the plan put `placeholder` as `session.<key>` (that one key: the
    placeholder anywhere else, in instructions say, is no place to fill)."""
    session = parsed.get("session") if isinstance(parsed, dict) else None
    return session if isinstance(session, dict) and session.get(key) == placeholder else None


def _spliced(text: str, mark: str, written: str, wanted: dict[str, Any]) -> tuple[str, Any] | None:
    """`text` with the one occurrence of `mark` replaced by `written` whose JSON value is `wanted`, and that
    value; None if no occurrence gives it. Every other byte is as planned (re-serialising could change
    numbers, duplicate keys or escapes a probe means to send)."""
    if text.count(mark) == 1 and not _ASCII_ESCAPE.search(text):
        # No character of it escaped, the placeholder at session.<key> is written as `mark`: the one
        # occurrence is it.
        return text.replace(mark, written), wanted
    start = text.find(mark)
    while start != -1:
        spliced = text[:start] + written + text[start + len(mark) :]
        parsed = _parsed(spliced)
        if parsed == wanted:
            return spliced, parsed
        start = text.find(mark, start + 1)
    return None


def _dropped(text: str, mark: str, wanted: dict[str, Any]) -> tuple[str, Any] | None:
    """`text` without its `"model": <mark>` member, and its JSON value `wanted`; None if no such member
    can be cut out of the text as it is."""
    start = text.find(mark)
    while start != -1:
        key = _MODEL_KEY.search(text, max(0, start - 256), start)  # checked below, whatever spacing it missed
        if key is not None:
            end = start + len(mark)
            if key.group(1) is None:  # the first member: the comma after it goes with it
                comma = _COMMA_AFTER.match(text, end)
                end = comma.end() if comma is not None else end
            cut = text[: key.start()] + text[end:]
            parsed = _parsed(cut)
            if parsed == wanted:
                return cut, parsed
        start = text.find(mark, start + 1)
    return None


def _fill(text: str, parsed: Any, key: str, placeholder: str, value: str | None) -> tuple[str, Any]:
    """`text` with `session.<key>`'s placeholder set to `value` (the member dropped when None), and its
    JSON value; as it was when the placeholder is not there, or cannot be filled in place."""
    session = _session(parsed, key, placeholder)
    if session is None:
        return text, parsed
    mark = _MARKS[placeholder]
    if value is not None:
        done = _spliced(text, mark, _written(value), {**parsed, "session": {**session, key: value}})
        return done if done is not None else (text, parsed)
    kept = {**parsed, "session": {k: v for k, v in session.items() if k != key}}
    done = _dropped(text, mark, kept)
    if done is not None:
        return done
    try:  # the member cannot be cut out as written (an escaped key, say): the frame is written anew
        rewritten = json.dumps(kept, ensure_ascii=text.isascii() or not _encodable(kept))
    except ValueError:  # an integer too long to write out: sent as planned
        return text, parsed
    reparsed = _parsed(rewritten)
    return (rewritten, reparsed) if reparsed is not None else (text, parsed)  # (an infinity is no JSON)


@functools.lru_cache(maxsize=64)
def _written(value: str) -> str:
    """A filled value as a JSON string token: a run fills the same few (its models and session types)
    into every update, each written once."""
    return json.dumps(value)


def _encodable(value: Any) -> bool:
    """Whether `value` written unescaped is UTF-8 (a lone surrogate, escaped in the plan, is not)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def filled(text: str, model: str | None, kind: str) -> tuple[str, Any]:
    """`text` with the known model at `session.model` (the member dropped if none is known) and the
    announced session type at `session.type`, where the plan put their placeholders; with the filled
    text's JSON value when the text was parsed to fill it (else None: nothing was parsed)."""
    if not any(mark in text for mark in _MARKS.values()):
        return text, None
    parsed = _parsed(text)
    text, parsed = _fill(text, parsed, "model", MODEL_PLACEHOLDER, model)
    return _fill(text, parsed, "type", TYPE_PLACEHOLDER, kind)


def with_type(text: str, kind: str) -> str:
    """Put the session type the opening session.created announced where a plan has the placeholder as
    `session.type`."""
    return _fill(text, _parsed(text), "type", TYPE_PLACEHOLDER, kind)[0]


def with_model(text: str, model: str | None) -> str:
    """Put the known model where a plan has the placeholder as `session.model`, or drop the member if
    none is known."""
    return _fill(text, _parsed(text), "model", MODEL_PLACEHOLDER, model)[0]

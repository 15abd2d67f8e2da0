"""A failure's evidence as a person reads it: the frames pretty-printed, the one that broke the rule marked,
and for a reflection failure the expected and actual values side by side.

Bounded against a flooding or hostile target: long frames are cut, long connections shown around the
offending frame, and what will not print as JSON is shown as it came. Everything goes through the
run's `Redactor`.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.jsontext import at_once
from conformance.redact import Redactor, escape_surrogates, one_line
from conformance.transcript import Frame, Transcript, json_text, parse_json
from conformance.verdict.results import RequirementResult

#: Failures shown in a result's message.
SHOWN_VIOLATIONS = 10
FRAME_CHARS = 20_000  # a frame longer than this is cut in the attachment (the transcript has it whole)
EXCHANGE_FRAMES = 200  # frames shown around the offending one in a long connection
EXCHANGE_CHARS = 1 << 20  # past this, an attachment shows only the offending frames (and their updates) whole
#: Where the expected value of a reflection failure comes from: what the update set, or what the
#: session was before the update (patch semantics keep every field an update does not set).
EXPECTED_FROM = {"EX-REFLECT": "update", "EX-PATCH-KEEPS-UNSET": "before", "EX-KEEP-CONFIG": "before"}


def _path_value(document: Any, path: str) -> Any:
    """The value at a dotted path of an event, or `_MISSING`."""
    value = document
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


_MISSING: Any = object()


def _parsed(frame: Frame | None) -> Any:
    if frame is None or frame.text is None:
        return None
    try:
        return parse_json(frame.text)
    except (ValueError, RecursionError):
        return None


def _looked_at(frame: Frame) -> Any:
    """A frame's value as a report shows it: parsed where it is shown whole, or is `steady` (a small parse); a
    longer one is shown raw and cut (`_pretty`), and only its type read, where orjson reads it at once."""
    if frame.text is not None and len(frame.text) > FRAME_CHARS and not frame.steady:
        return at_once(frame.text)
    return _parsed(frame)


def _indented(value: Any) -> str | None:
    """JSON indented, or None for what a hostile target can send that will not print so (integers of
    thousands of digits, nesting deeper than the interpreter's stack)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except (ValueError, RecursionError, TypeError):
        return None


def _pretty(frame: Frame, safe: Redactor, value: Any = _MISSING) -> str:
    """A frame's JSON indented (masked), or its text as it came when it is not JSON, will not indent, or is
    longer than is shown (indenting is pure Python: a hostile target's 64 KB array took 50 ms, to be cut)."""
    value = _looked_at(frame) if value is _MISSING else value
    short = frame.text is not None and len(frame.text) <= FRAME_CHARS
    indented = None if value is None or not short else _indented(value)
    text = frame.describe(safe) if indented is None else safe.mask(indented)
    if len(text) > FRAME_CHARS:
        text = f"{text[:FRAME_CHARS]}\n… [{len(text) - FRAME_CHARS} more characters: see the transcript]"
    return escape_surrogates(text)


def _kind(frame: Frame, value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return str(value["type"])
    return frame.kind


def _key(frame: Frame) -> tuple[str, float, str]:
    """What names a frame in its connection, in memory or read back from its (masked) file."""
    return (frame.direction, round(frame.time, 6), frame.kind)


def _is(frame: Frame, other: Frame | None, safe: Redactor | None = None) -> bool:
    """The same frame: itself, or (read back from the masked file) the same place and the same masked text."""
    if other is None or frame is other:
        return frame is other
    if _key(frame) != _key(other):
        return False
    return safe is None or frame.text == other.text or safe.mask(frame.text or "") == safe.mask(other.text or "")


def exchange_text(transcript: Transcript, result: RequirementResult, safe: Redactor) -> str:
    """One connection as a person reads it: its frames pretty-printed, the ones that broke the rule marked.

    Bounded (a flooding target): frames around the first offending one, and past EXCHANGE_CHARS only
    the frames that matter are printed whole, the others in one line each.
    """
    mine = [v for v in result.violations if v.connection == transcript.label]
    broke_ids = {_key(v.received) for v in mine if v.received is not None}
    sent_ids = {_key(v.sent) for v in mine if v.sent is not None}
    frames = list(transcript.frames)
    offending = [v.received for v in mine if v.received is not None]
    sent = [v.sent for v in mine if v.sent is not None]
    marked = [i for i, f in enumerate(frames) if _key(f) in broke_ids and any(_is(f, o, safe) for o in offending)]
    start = max(0, (marked[0] if marked else 0) - EXCHANGE_FRAMES // 2)
    lines = [f"connection: {safe.mask(transcript.label)} ({len(frames)} frames)", ""]
    if start:
        lines += [f"… {start} earlier frames (see the transcript)", ""]
    budget = EXCHANGE_CHARS
    for index in range(start, min(len(frames), start + EXCHANGE_FRAMES)):
        frame = frames[index]
        arrow = "client →" if frame.direction == "client" else "server ←"
        broke = [v for v in mine if _is(frame, v.received, safe)] if _key(frame) in broke_ids else []
        is_sent = _key(frame) in sent_ids and any(_is(frame, o, safe) for o in sent)
        if not broke and not is_sent and budget <= 0:
            size = len(frame.text) if frame.text is not None else 0
            lines.append(f"#{index + 1} {arrow} {frame.kind} frame of {size} characters at {frame.time:.3f}s")
            continue
        value = _looked_at(frame)
        head = f"#{index + 1} {arrow} {_kind(frame, value)} at {frame.time:.3f}s"
        if broke:
            head = f">>> {head}   BROKE {result.requirement.id}"
        elif is_sent:
            head = f"{head}   (the update the offending answer is about)"
        pretty = _pretty(frame, safe, value)
        budget -= len(pretty)
        lines.append(head)
        lines += [f"    {line}" for line in pretty.split("\n")]
        for v in broke[:SHOWN_VIOLATIONS]:
            lines.append(f"    ^^^ {safe.mask(v.path)}: {safe.mask(v.message)}")
        lines.append("")
    if start + EXCHANGE_FRAMES < len(frames):
        lines.append(f"… {len(frames) - start - EXCHANGE_FRAMES} later frames (see the transcript)")
    # what a target sent (an event type, a close reason, a text that is no JSON, characters inside its strings)
    # cannot start a line of its own or reach a terminal as control sequences: one line each, escaped
    return "\n".join(map(one_line, lines))


def _before(transcript: Transcript | None, sent: Frame | None) -> Any:
    """The session as the server last showed it before `sent` (session.created or session.updated)."""
    if transcript is None or sent is None:
        return _MISSING
    last: Any = _MISSING
    for frame in transcript.frames:
        if _is(frame, sent):
            return last
        value = _parsed(frame)
        if frame.direction == "server" and isinstance(value, dict) and isinstance(value.get("session"), dict):
            last = value
    return _MISSING


def difference(result: RequirementResult, transcripts: dict[str, Transcript]) -> tuple[str, str] | None:
    """For a reflection failure: (expected, actual), JSON texts of connection → path → value (Allure diffs them)."""
    source = EXPECTED_FROM.get(result.requirement.id)
    if source is None:
        return None
    expected: dict[str, dict[str, Any]] = {}
    actual: dict[str, dict[str, Any]] = {}
    for v in result.violations[:SHOWN_VIOLATIONS]:
        if source == "update":
            want = _path_value(_parsed(v.sent), v.path)
        else:
            want = _path_value(_before(transcripts.get(v.connection), v.sent), v.path)
        got = _path_value(_parsed(v.received), v.path)
        expected.setdefault(v.connection, {})[v.path] = "<not shown before>" if want is _MISSING else want
        actual.setdefault(v.connection, {})[v.path] = "<missing>" if got is _MISSING else got
    if not expected:
        return None

    def text(value: dict[str, dict[str, Any]]) -> str:
        shown = _indented(value)
        if shown is None:
            try:
                shown = json_text(value)  # huge integers shown by their length
            except RecursionError:
                shown = '"<too deeply nested to show: see the transcript>"'
        return shown

    return text(expected), text(actual)


def failure_details(result: RequirementResult, safe: Redactor) -> tuple[str, str]:
    """The message (one line per violation) and the trace (the sent/received pairs, pretty-printed)."""
    r = result.requirement
    lines = [f"[{r.level}] {r.id}: {r.title}"]
    lines += [f"- {v.connection}: {v.message}" for v in result.violations[:SHOWN_VIOLATIONS]]
    if not result.violations:
        lines.append(f"- {result.reason}")
    if len(result.violations) > SHOWN_VIOLATIONS:
        lines.append(f"- … and {len(result.violations) - SHOWN_VIOLATIONS} more (see summary.json)")
    pairs = []
    for v in result.violations[:3]:
        pair = [f"=== {v.connection}: {v.path}: {v.message}"]
        if v.sent is not None:
            pair += ["--- sent (client →)", _pretty(v.sent, safe)]
        pair += ["--- received (server ←)  <<< broke the rule", _pretty(v.received, safe) if v.received else "nothing"]
        pairs.append("\n".join(pair))
    return safe.mask("\n".join(lines)), safe.mask("\n\n".join(pairs))

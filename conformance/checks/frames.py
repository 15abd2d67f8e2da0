"""Frame and event checks: the wire rules of one server frame, then its event's schema.

A schema error is reported under the requirement its schema node names beside the failing
keyword (`x-requirement`, read once by the contract), so a field's type lives in the schema only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast
from urllib.parse import unquote

from conformance.checks.connection import Connection, Received
from conformance.checks.findings import Violation, describe_value, json_type
from conformance.checks.registry import HELD, Finding, Flaw, connection_check
from conformance.contract import SCHEMA_BASE, Contract, EventRequirements, Requirement, schema_errors
from conformance.transcript import Frame

#: The wire checks' requirements: every server frame is a text frame, and holds one JSON object.
TEXT_FRAME, JSON_OBJECT = "WIRE-TEXT-FRAME", "WIRE-JSON-OBJECT"


def _message(path: str, keyword: str, value: Any, expected: Any, fallback: str) -> str:
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        shown = json_type(value) if value is None else f"{json_type(value)} {describe_value(value)}"  # not "null null"
        return f"{path} is {shown}; expected {wanted}"
    if keyword == "enum":
        return f"{path} is {describe_value(value)}; expected one of {', '.join(map(str, expected))}"
    if keyword == "const":
        return f"{path} is {describe_value(value)}; expected {describe_value(expected)}"
    if keyword == "minLength":
        return f"{path} is an empty string; expected a non-empty string"
    if keyword == "pattern":
        return f"{path} is {describe_value(value)}; expected a string matching {expected}"
    return f"{path}: {fallback}"


def _paths(
    where: Iterable[Any], keyword: str, value: Any, expected: Any, fallback: str
) -> Iterator[tuple[str, str | None, str]]:
    """(dotted path, missing member, message) for each field an error is about; `required` names its children."""
    base = ".".join(str(p) for p in where)
    if keyword == "required" and isinstance(value, dict):
        for name in cast(list[str], expected):
            if name not in value:
                path = f"{base}.{name}" if base else name
                yield path, name, f"{path} is missing"
        return
    path = base or "(event)"
    yield path, None, _message(path, keyword, value, expected, fallback)


#: The keywords whose failure is worded from the schema and the value alone (`_message`), and those
#: whose message jsonschema's words (`anyOf`: the value's repr) without asking jsonschema.
WORDED = frozenset({"type", "enum", "const", "minLength", "pattern", "required"})
REWORDED = {"anyOf": "{!r} is not valid under any of the given schemas"}


def _explained(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None
) -> list[Violation]:
    """Python `jsonschema`'s errors, each mapped to the requirement its failing node names."""
    violations: list[Violation] = []
    for error in schema_errors(contract.validators[judged_by.event], event):
        keyword, expected = str(error.validator), cast(Any, error.validator_value)
        value: Any = event  # the value itself, not a copy cut short (`schema_errors`)
        for part in error.absolute_path:
            value = value[part]
        for path, member, text in _paths(error.absolute_path, keyword, value, expected, error.message):
            violations.append(Violation(judged_by.requirement(error.schema, keyword, member), path, text, frame))
    return violations


def _explained_fast(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None
) -> list[Violation] | None:
    """The same from jsonschema-rs' errors: the failing node (found by its keyword's location in the
    contract's own schema documents), the instance path, the value (taken from the event itself);
    None where jsonschema-rs cannot say what `_explained` says (another keyword, a value it cannot take)."""
    try:
        errors = list(contract.fast[judged_by.event].compiled.iter_errors(event))
    except (ValueError, OverflowError, TypeError):
        return None
    ordered: list[tuple[tuple[int, ...], Any]] = []
    for error in errors:
        order = _python_order(contract, judged_by, event, error.evaluation_path, error.instance_path)
        if order is None:
            return None
        ordered.append((order, error))
    ordered.sort(key=lambda pair: pair[0])  # stable: errors of one keyword keep jsonschema-rs' order
    violations: list[Violation] = []
    for _, error in ordered:
        found = _node_at(contract, error.absolute_keyword_location)
        if found is None:
            return None
        node, keyword = found
        if keyword not in WORDED and keyword not in REWORDED:
            return None
        value: Any = event
        for part in error.instance_path:
            value = value[part]
        reworded = REWORDED[keyword].format(value) if keyword in REWORDED else ""
        for path, member, text in _paths(error.instance_path, keyword, value, node[keyword], reworded):
            violations.append(Violation(judged_by.requirement(node, keyword, member), path, text, frame))
    return violations or None


def _python_order(
    contract: Contract, judged_by: EventRequirements, event: Any, evaluation: list[Any], where: list[Any]
) -> tuple[int, ...] | None:
    """Where Python `jsonschema` reports an error among an event's: it walks each schema node's
    keywords in the document's order (`then`/`else` where `if` is), `properties` in the schema's
    order, array items and extra members in the instance's; None on a path this does not follow."""
    document = contract.registry.event(judged_by.event).schema
    node: Any = contract.schemas[document]
    value, rest, order = event, list(where), []
    at, last = 0, len(evaluation) - 1
    while at <= last:
        step = evaluation[at]
        if not isinstance(node, dict) or step not in node:
            return None
        order.append(list(node).index("if" if step in ("then", "else") and "if" in node else step))
        if at == last:
            return tuple(order)  # the failing keyword itself
        child, at = node[step], at + 1
        if step == "$ref":
            document, node = _resolved(contract, document, child)
        elif step == "properties":
            name = evaluation[at]
            if not isinstance(child, dict) or name not in child or not rest or rest[0] != name:
                return None
            order.append(list(child).index(name))
            value, node, at = value[rest.pop(0)], child[name], at + 1
        elif step in ("allOf", "anyOf", "oneOf"):
            index = evaluation[at]
            index = int(index) if str(index).isdigit() else -1
            if not isinstance(child, list) or not 0 <= index < len(child):
                return None
            order.append(index)
            node, at = child[index], at + 1
        elif step in ("items", "additionalProperties") and rest:
            member = rest.pop(0)
            order.append(member if isinstance(member, int) else list(value).index(member))
            value, node = value[member], child
        elif step in ("then", "else"):
            node = child
        else:
            return None
    return None


def _resolved(contract: Contract, document: str, ref: str) -> tuple[str, Any]:
    """The document and node a `$ref` names (a file of the contract's schemas, and a pointer in it)."""
    name, _, pointer = ref.partition("#")
    document = name or document
    node: Any = contract.schemas.get(document)
    for part in pointer.split("/")[1:]:
        node = node.get(part) if isinstance(node, dict) else None
    return document, node


@functools.lru_cache(maxsize=4096)
def _node_at(contract: Contract, location: str | None) -> tuple[dict[str, Any], str] | None:
    """The schema node holding the keyword at an absolute keyword location (`<document URI>#/<pointer>`)."""
    uri, _, pointer = (location or "").partition("#")
    node: Any = contract.schemas.get(uri.removeprefix(SCHEMA_BASE)) if uri.startswith(SCHEMA_BASE) else None
    parts = [unquote(p).replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if node is None or not parts:
        return None
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return (node, parts[-1]) if isinstance(node, dict) and parts[-1] in node else None


def check_event(
    event: Mapping[str, Any], contract: Contract, as_type: str | None = None, frame: Frame | None = None
) -> list[Violation]:
    """Judge one server event against the schema of its type (or of `as_type`).

    Unknown event types are not judged (a server may send other events); unknown fields are
    never a violation. A valid event costs one jsonschema-rs validation; an invalid one is
    explained from jsonschema-rs' errors, or by Python `jsonschema` where those cannot say it.
    """
    event_type = as_type or event.get("type")
    judged_by = contract.judged_by.get(event_type) if isinstance(event_type, str) else None
    if judged_by is None or contract.fast[judged_by.event].is_valid(event):
        return []
    return _violations(event, contract, judged_by, frame)


def _violations(
    event: Mapping[str, Any], contract: Contract, judged_by: EventRequirements, frame: Frame | None
) -> list[Violation]:
    """An event its schema rejects, explained: from jsonschema-rs' errors, or by Python `jsonschema`."""
    found = _explained_fast(event, contract, judged_by, frame)
    return found if found is not None else _explained(event, contract, judged_by, frame)


def decode(frame: Frame) -> tuple[Received, dict[str, Any] | None]:
    """A server frame as received, and its event when its text is one JSON object."""
    if frame.kind != "text" or frame.text is None:
        return Received(frame), None
    try:
        event = frame.json()  # parsed once, kept with the frame: the runner reads it too
    except (json.JSONDecodeError, RecursionError):
        return Received(frame, f"a text frame that is not JSON: {describe_value(frame.text[:60])}"), None
    if not isinstance(event, dict):
        return Received(frame, f"a JSON {json_type(event)}, not an object: {describe_value(event)}"), None
    return Received(frame), event


@connection_check(TEXT_FRAME)
def check_text_frames(conn: Connection) -> Iterator[Finding]:
    for received in conn.received:
        binary = received.frame.kind == "binary"
        yield Finding((Flaw("(frame)", "a binary frame; events are text frames", received.frame),)) if binary else HELD


@connection_check(JSON_OBJECT)
def check_json_objects(conn: Connection) -> Iterator[Finding]:
    for received in conn.received:
        if received.frame.kind == "text":
            problem = received.not_an_event
            yield Finding((Flaw("(frame)", problem, received.frame),)) if problem else HELD


def check_frame(frame: Frame) -> tuple[list[Violation], dict[str, Any] | None]:
    """The wire checks of one server frame alone; the violations and the event, if it is one."""
    received, event = decode(frame)
    if frame.kind == "binary":
        return [Violation(TEXT_FRAME, "(frame)", "a binary frame; events are text frames", frame)], None
    problem = received.not_an_event
    return ([Violation(JSON_OBJECT, "(frame)", problem, frame)] if problem else []), event


class Unexplained(Exception):
    """An invalid event, not explained because explaining was not asked for (it may take long)."""


def judge_server_frame(
    frame: Frame, contract: Contract, explain: bool = True
) -> tuple[list[Violation], frozenset[str], Received, dict[str, Any] | None]:
    """One server frame: its schema violations, the requirements its schema exercised, and the
    frame as received with its event (the wire checks judge it in the registry). Without `explain`,
    an event its schema rejects raises `Unexplained` instead: only one validation is spent on it."""
    received, event = decode(frame)
    if event is None:
        return [], frozenset(), received, None
    event_type = event.get("type")
    judged_by = contract.judged_by.get(event_type) if isinstance(event_type, str) else None
    exercised = judged_by.ids if judged_by is not None else frozenset()
    if judged_by is None or contract.fast[judged_by.event].is_valid(event):
        return [], exercised, received, event  # as `check_event` judges it: one validation
    if not explain:
        raise Unexplained(event_type)
    return _violations(event, contract, judged_by, frame), exercised, received, event


def requirement_for(contract: Contract, event_type: str, path: str, keyword: str) -> Requirement:
    """The requirement judging `keyword` at the dotted instance `path` of an event: the one its
    schema node names (for `required`, the missing member's). For tests and documentation."""
    return contract.requirement(contract.judged_by[event_type].at_path(path, keyword))

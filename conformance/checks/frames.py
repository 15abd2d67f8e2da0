"""Frame and event checks: the wire rules of one server frame, then its event's schema.

A schema error is reported under the requirement its schema node names beside the failing
keyword (`x-requirement`, read once by the contract), so a field's type lives in the schema only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, cast

from jsonschema.exceptions import ValidationError

from conformance.checks.connection import Connection, Received
from conformance.checks.findings import Violation, describe_value, json_type
from conformance.checks.registry import Finding, Flaw, connection_check
from conformance.contract import Contract, Requirement
from conformance.transcript import Frame, parse_json

#: The wire checks' requirements: every server frame is a text frame, and holds one JSON object.
TEXT_FRAME, JSON_OBJECT = "WIRE-TEXT-FRAME", "WIRE-JSON-OBJECT"


def _error_message(error: ValidationError, path: str) -> str:
    value, keyword, expected = error.instance, error.validator, cast(Any, error.validator_value)
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"{path} is {json_type(value)} {describe_value(value)}; expected {wanted}"
    if keyword == "enum":
        return f"{path} is {describe_value(value)}; expected one of {', '.join(map(str, expected))}"
    if keyword == "const":
        return f"{path} is {describe_value(value)}; expected {describe_value(expected)}"
    if keyword == "minLength":
        return f"{path} is an empty string; expected a non-empty string"
    if keyword == "pattern":
        return f"{path} is {describe_value(value)}; expected a string matching {expected}"
    return f"{path}: {error.message}"


def _error_paths(error: ValidationError) -> Iterator[tuple[str, str | None, str]]:
    """(dotted path, missing member, message) for each field an error is about; `required` names its children."""
    base = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in cast(list[str], error.validator_value):
            if name not in error.instance:
                path = f"{base}.{name}" if base else name
                yield path, name, f"{path} is missing"
        return
    path = base or "(event)"
    yield path, None, _error_message(error, path)


def check_event(
    event: Mapping[str, Any], contract: Contract, as_type: str | None = None, frame: Frame | None = None
) -> list[Violation]:
    """Judge one server event against the schema of its type (or of `as_type`).

    Unknown event types are not judged (a server may send other events); unknown fields are
    never a violation.
    """
    event_type = as_type or event.get("type")
    judged_by = contract.judged_by.get(event_type) if isinstance(event_type, str) else None
    if judged_by is None or contract.fast[judged_by.event].is_valid(event):
        return []
    violations: list[Violation] = []
    for error in contract.validators[judged_by.event].iter_errors(event):
        for path, member, message in _error_paths(error):
            requirement = judged_by.requirement(error.schema, str(error.validator), member)
            violations.append(Violation(requirement, path, message, frame))
    return violations


def decode(frame: Frame) -> tuple[Received, dict[str, Any] | None]:
    """A server frame as received, and its event when its text is one JSON object."""
    if frame.kind != "text" or frame.text is None:
        return Received(frame), None
    try:
        event = parse_json(frame.text)
    except (json.JSONDecodeError, RecursionError):
        return Received(frame, f"a text frame that is not JSON: {describe_value(frame.text[:60])}"), None
    if not isinstance(event, dict):
        return Received(frame, f"a JSON {json_type(event)}, not an object: {describe_value(event)}"), None
    return Received(frame), event


@connection_check(TEXT_FRAME)
def check_text_frames(conn: Connection) -> Iterator[Finding]:
    for received in conn.received:
        binary = received.frame.kind == "binary"
        yield Finding((Flaw("(frame)", "a binary frame; events are text frames", received.frame),) if binary else ())


@connection_check(JSON_OBJECT)
def check_json_objects(conn: Connection) -> Iterator[Finding]:
    for received in conn.received:
        if received.frame.kind == "text":
            problem = received.not_an_event
            yield Finding((Flaw("(frame)", problem, received.frame),) if problem else ())


def check_frame(frame: Frame) -> tuple[list[Violation], dict[str, Any] | None]:
    """The wire checks of one server frame alone; the violations and the event, if it is one."""
    received, event = decode(frame)
    if frame.kind == "binary":
        return [Violation(TEXT_FRAME, "(frame)", "a binary frame; events are text frames", frame)], None
    problem = received.not_an_event
    return ([Violation(JSON_OBJECT, "(frame)", problem, frame)] if problem else []), event


def judge_server_frame(
    frame: Frame, contract: Contract
) -> tuple[list[Violation], frozenset[str], Received, dict[str, Any] | None]:
    """One server frame: its schema violations, the requirements its schema exercised, and the
    frame as received with its event (the wire checks judge it in the registry)."""
    received, event = decode(frame)
    if event is None:
        return [], frozenset(), received, None
    event_type = event.get("type")
    judged_by = contract.judged_by.get(event_type) if isinstance(event_type, str) else None
    exercised = judged_by.ids if judged_by is not None else frozenset()
    return check_event(event, contract, frame=frame), exercised, received, event


def requirement_for(contract: Contract, event_type: str, path: str, keyword: str) -> Requirement:
    """The requirement judging `keyword` at the dotted instance `path` of an event: the one its
    schema node names (for `required`, the missing member's). For tests and documentation."""
    return contract.requirement(contract.judged_by[event_type].at_path(path, keyword))

"""The oracle: classify any `session.update` as valid, invalid or undetermined (DESIGN).

The classification comes from the contract alone (the session.update schema, the known-valid
values and the accepted models), never from what a generator meant to make, so a wrong
generator can cost coverage but never a false verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema.exceptions import ValidationError, best_match

from conformance.contract import Contract
from conformance.transcript import parse_json

Kind = Literal["valid", "invalid", "undetermined"]

TOP_LEVEL_FIELDS = frozenset({"type", "event_id", "session"})


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str
    event_id: str | None = None
    session: dict[str, Any] | None = None  # the update's session object, whatever its kind
    path: str | None = None  # the field the reason is about, when there is one


def error_path(error: ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(event)"


def classify(text: str, contract: Contract, models: frozenset[str] = frozenset()) -> Classification:
    """Classify the text of one client frame; `models` are the models known to be accepted."""
    try:
        event = parse_json(text)
    except (json.JSONDecodeError, RecursionError):
        return Classification("invalid", "not JSON")
    if not isinstance(event, dict):
        return Classification("invalid", f"not a JSON object but {type(event).__name__}")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    raw_session = event.get("session")
    session: dict[str, Any] | None = raw_session if isinstance(raw_session, dict) else None
    fast_valid = contract.fast["session.update"].is_valid(event)
    error = None if fast_valid else best_match(contract.validators["session.update"].iter_errors(event))
    if error is not None:
        path = error_path(error)
        return Classification("invalid", f"{path}: {error.message}", event_id, session, path)
    assert session is not None
    unknown = sorted(set(event) - TOP_LEVEL_FIELDS)
    if unknown:
        return Classification("undetermined", f"unknown fields {', '.join(unknown)}", event_id, session)
    rest = {k: v for k, v in session.items() if k != "model"}
    known_error = (
        None if contract.fast_known_values.is_valid(rest) else best_match(contract.known_values.iter_errors(rest))
    )
    if known_error is not None:
        where = ("session." + error_path(known_error)) if known_error.absolute_path else "session"
        return Classification(
            "undetermined",
            f"{where}: {known_error.message}; the documents do not say that is accepted",
            event_id,
            session,
            where,
        )
    if "model" in session and session["model"] not in models:
        return Classification(
            "undetermined",
            f"session.model {session['model']!r} was not announced nor given",
            event_id,
            session,
            "session.model",
        )
    return Classification("valid", "every field has a documented, accepted value", event_id, session)

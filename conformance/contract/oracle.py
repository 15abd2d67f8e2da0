"""The oracle: classify any `session.update` as valid, invalid or undetermined (DESIGN).

The classification comes from the contract alone (the session.update schema, the known-valid
values, the alias pairs) and from what the connection established (the accepted models, the
type `session.created` announced), never from what a generator meant to make, so a wrong
generator can cost coverage but never a false verdict.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from jsonschema.exceptions import ValidationError, best_match

from conformance.contract import PATCH_SCHEMA, Contract, schema_errors
from conformance.contract.members import undocumented
from conformance.contract.paths import Path, without
from conformance.frozen import fast_init
from conformance.transcript import parse_json

Kind = Literal["valid", "invalid", "undetermined"]

#: The session type when `session.created` announced none (spec-notes: "realtime when none announced").
DEFAULT_SESSION_TYPE = "realtime"
#: What a plan puts in `session.type` for "the type the connection's session.created announced";
#: the runner replaces it before sending, so the oracle only ever sees (and judges) the sent text.
TYPE_PLACEHOLDER = "$created-type"


def session_types(contract: Contract) -> tuple[str, ...]:
    """The dialect's documented session types (its RealtimeSession schema's enum)."""
    return tuple(contract.schemas["realtime-session.json"]["properties"]["type"]["enum"])


def announced_type(session: Any, contract: Contract) -> str:
    """The session type an opening session.created announced, when it is one the contract documents;
    else the default (an update setting it is then at worst undetermined, never invalid by our doing)."""
    kind = session.get("type") if isinstance(session, dict) else None
    return kind if isinstance(kind, str) and kind in session_types(contract) else DEFAULT_SESSION_TYPE


@dataclass(frozen=True)
class Context:
    """What the connection established before an update: the models and the session type it may set.

    Learned only from `session.created`, the URL's `model` query and `--model` (never from an
    answer). `switched` says an earlier update that switched the type was accepted: after that,
    which type an update may set is undetermined.
    """

    models: frozenset[str] = frozenset()
    created_type: Any = DEFAULT_SESSION_TYPE
    switched: bool = False

    def after_accepting(self, update: Classification) -> Context:
        """The context after the server accepted `update`: switched, if it set another session type."""
        kind = (update.session or {}).get("type")
        if update.kind != "invalid" and isinstance(kind, str) and kind != self.created_type:
            return replace(self, switched=True)
        return self


@fast_init
@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str
    event_id: str | None = None
    session: dict[str, Any] | None = None  # the update's session object, whatever its kind
    path: str | None = None  # the field the reason is about, when there is one
    #: The documented, writable session fields the update set with a value of their documented
    #: type: what an accepting `session.updated` must reflect (spec-notes, "Accepting means applying").
    applied: tuple[str, ...] = ()
    #: Dotted session paths an answer need not reflect: the sides of aliases set to contradicting values.
    contradicted: tuple[str, ...] = ()
    #: Session paths (keys and indexes) of members an applied field set that its schema does not
    #: document: a server may ignore them as any unknown field, so an answer need not reflect them.
    undocumented: tuple[Path, ...] = ()


def error_path(error: ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(event)"


def _within(errors: list[ValidationError]) -> list[ValidationError]:
    """`errors` and, after each, the errors of its `anyOf`/`oneOf` branches (a null inside one of
    several tool kinds is reported only as the union's error at first)."""
    found: list[ValidationError] = []
    stack = list(reversed(errors))
    while stack:
        error = stack.pop()
        found.append(error)
        stack += reversed(error.context or [])
    return found


def _nulls(errors: list[ValidationError]) -> list[ValidationError]:
    """The errors about a null member, among `errors` and inside their branches."""
    return [
        e for e in _within(errors) if e.instance is None and e.absolute_path and isinstance(e.absolute_path[-1], str)
    ]


def _unset_nulls(event: dict[str, Any], contract: Contract) -> tuple[list[str], ValidationError | None]:
    """The optional fields an update sets to a `null` their type does not allow, and the first other error.

    spec-notes, "null in a client event": such a null may mean "not set", so it is undetermined;
    any other schema error stays invalid. Which fields are optional and which types take null is
    read from the schema: a null is "optional" when the event without it breaks no `required`.
    """
    validator = contract.validators["session.update"]
    errors = schema_errors(validator, event)
    removed: list[list[str | int]] = []
    nulls = _nulls(errors)
    for error in nulls:
        path = list(error.absolute_path)
        if path not in removed:
            removed.append(path)
    # A field the server owns may be ignored whatever an update sets there, so a wrong value in it
    # proves nothing either: it is left out like a null.
    for error in errors:
        path = list(error.absolute_path)[:2]
        if len(path) == 2 and path[0] == "session" and path[1] in contract.server_owned and path not in removed:
            removed.append(path)
    stripped = without(event, removed)
    if not removed:
        left = errors  # nothing stripped: the same event, the same errors
    elif contract.fast["session.update"].is_valid(stripped):
        left = []  # mostly so (the nulls were all): jsonschema-rs says it without listing anything
    else:
        left = schema_errors(validator, stripped)
    required_gone = [
        [*e.absolute_path, name]
        for e in _within(left)
        for name in (e.validator_value if e.validator == "required" and isinstance(e.validator_value, list) else [])
        if isinstance(e.instance, dict) and name not in e.instance and [*e.absolute_path, name] in removed
    ]
    if required_gone:  # a null where a member is required: that null's own error (not another branch's)
        return [], next((e for e in nulls if list(e.absolute_path) == required_gone[0]), best_match(errors))
    if left and not removed:
        return [], best_match(errors)
    if left:
        return [], best_match(left)
    return [".".join(map(str, p)) for p in removed], None


def _member_at(session: dict[str, Any], parts: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = session
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


@functools.cache
def _split(aliases: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...]:
    """Each alias pair with its paths' parts (split once per contract, not per update)."""
    return tuple((left, right, tuple(left.split(".")), tuple(right.split("."))) for left, right in aliases)


def contradicting(session: dict[str, Any], contract: Contract) -> tuple[str, ...]:
    """The alias paths (spec/aliases.json) an update sets on both sides to different values."""
    out: list[str] = []
    for left, right, left_parts, right_parts in _split(contract.aliases):
        if left_parts[0] not in session or right_parts[0] not in session:
            continue
        (has_left, a), (has_right, b) = _member_at(session, left_parts), _member_at(session, right_parts)
        if has_left and has_right and _differ(a, b):
            out += [left, right]
    return tuple(out)


def _differ(a: Any, b: Any) -> bool:
    """Whether two JSON values differ (`true` is not `1`); values too deep to compare are taken to differ."""
    try:
        return json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True)
    except (RecursionError, ValueError):
        return True


def _short(message: str, limit: int = 200) -> str:
    """A schema message quotes the whole value, which may be tens of KB: keep the reason readable."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _applied(session: dict[str, Any], documented: dict[str, str], contract: Contract) -> tuple[str, ...]:
    """The fields the update's session type documents, writable, set with a value of their documented type
    (null where allowed). A field only another type documents is as unknown: the server may ignore it."""
    update = contract.fast["session.update"]
    # the session's own type goes along: a dialect that requires it (openai) judges a field in its kind
    kind = {"type": session["type"]} if isinstance(session.get("type"), str) else {}
    return tuple(
        key
        for key, value in session.items()
        if key in documented
        and key not in contract.server_owned
        and update.is_valid({"type": "session.update", "session": {**kind, key: value}})
    )


def _unknown_members(
    session: dict[str, Any], applied: tuple[str, ...], pointers: dict[str, str], contract: Contract
) -> tuple[Path, ...]:
    """The members the applied fields set that their session type's schemas (at `pointers`) do not document."""
    return tuple(
        (key, *path) for key in applied for path in undocumented(session[key], contract, PATCH_SCHEMA, pointers[key])
    )


#: What `_classified` is given for a text that is no JSON.
_NOT_JSON = object()


def _parsed(text: str) -> Any:
    try:
        return parse_json(text)
    except (json.JSONDecodeError, RecursionError):
        return _NOT_JSON


def classify(text: str, contract: Contract, context: Context | None = None) -> Classification:
    """Classify the text of one client frame in the context its connection established."""
    return _classified(_parsed(text), contract, context or Context())


def _classified(event: Any, contract: Contract, context: Context) -> Classification:
    """`classify`, of the frame's JSON value (parsed once: `classify_event` has it already)."""
    if event is _NOT_JSON:
        return Classification("invalid", "not JSON")
    if not isinstance(event, dict):
        return Classification("invalid", f"not a JSON object but {type(event).__name__}")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    raw_session = event.get("session")
    session: dict[str, Any] | None = raw_session if isinstance(raw_session, dict) else None
    unset: list[str] = []
    if not contract.fast["session.update"].is_valid(event):
        unset, error = _unset_nulls(event, contract)
        if error is not None:
            path = error_path(error)
            return Classification("invalid", f"{path}: {_short(error.message)}", event_id, session, path)
    assert session is not None
    documented = contract.fields_of(session.get("type"))  # each with the pointer of its schema
    applied = _applied(session, documented, contract)
    contradicted = contradicting(session, contract)
    judged = tuple(k for k in applied if k not in contradicted)
    unknown_members = _unknown_members(session, judged, documented, contract)

    def undetermined(reason: str, path: str | None = None) -> Classification:
        return Classification("undetermined", reason, event_id, session, path, judged, contradicted, unknown_members)

    owned = [path for path in unset if path.split(".")[-1] in contract.server_owned and path.count(".") == 1]
    if owned:
        return undetermined(f"{', '.join(owned)} is the server's own: it may ignore what an update sets there")
    if unset:
        return undetermined(f"{', '.join(unset)} is null: the documents do not say whether that means not set")
    unknown = sorted(set(event) - contract.update_fields)
    if unknown:
        return undetermined(f"unknown fields {', '.join(unknown)}")
    if contradicted:
        return undetermined(f"{' and '.join(contradicted[:2])} are aliases set to different values")
    rest = {k: v for k, v in session.items() if k != "model"}
    known, fast_known = contract.known_for(context.created_type)
    known_error = None if fast_known.is_valid(rest) else best_match(schema_errors(known, rest))
    if known_error is not None:
        where = ("session." + error_path(known_error)) if known_error.absolute_path else "session"
        typed = isinstance(context.created_type, str) and context.created_type in contract.known_by_type
        on = f" on a {context.created_type} session" if typed else ""
        return undetermined(
            f"{where}: {_short(known_error.message)}; the documents do not say that is accepted{on}", where
        )
    if "model" in session and contract.dialect_info.get("model_fixed"):
        return undetermined(
            "session.model is set: the dialect's updates may change any field but the model", "session.model"
        )
    if "model" in session and session["model"] not in context.models:
        return undetermined(
            f"session.model {_short(repr(session['model']))} was not announced nor given", "session.model"
        )
    if context.switched or session["type"] != context.created_type:
        return undetermined(
            f"session.type {session['type']!r} on a session created as {_short(repr(context.created_type))}"
            + (" and switched since" if context.switched else "")
            + ": whether the type may change is undetermined",
            "session.type",
        )
    return Classification(
        "valid",
        "every field has a documented, accepted value",
        event_id,
        session,
        None,
        judged,
        contradicted,
        unknown_members,
    )


def classify_event(text: str, contract: Contract, context: Context | None = None) -> Classification:
    """Classify any client frame: the update oracle for a `session.update` (and for a frame that is
    no registered client event, the registry's fallback); any other registered client event by its
    schema alone (valid or invalid: no known-values are documented for it)."""
    event = _parsed(text)
    registered = contract.registry.get(event.get("type")) if isinstance(event, dict) else None
    if (
        not isinstance(event, dict)
        or registered is None
        or registered.judges_unknown
        or registered.direction != "client"
    ):
        return _classified(event, contract, context or Context())
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    if contract.fast[registered.name].is_valid(event):
        return Classification("valid", f"a {registered.name} its schema accepts", event_id)
    error = best_match(schema_errors(contract.validators[registered.name], event))
    path = error_path(error) if error is not None else None
    reason = f"{path}: {_short(error.message)}" if error is not None else "its schema rejects it"
    return Classification("invalid", reason, event_id, None, path)

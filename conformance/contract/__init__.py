"""The contract as data: schemas, requirement catalogue and known-valid values, loaded once.

No I/O beyond reading the package's own spec files; everything else imports from here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import jsonschema_rs
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance.contract.annotations import ContractError, EventRequirements, annotate
from conformance.contract.events import EventRegistry, EventType, parse_registry
from conformance.contract.files import (
    DEFAULT_DIALECT,
    DIALECTS,
    MODEL_GROUP,
    SCHEMA_BASE,
    SCHEMA_DIR,
    SPEC_DIR,
    model_names_of,
    read_json,
    schema_documents,
    spec_file,
    spec_files,
    spec_hash,
    with_model_names,
)
from conformance.contract.requirement import SOURCE_FILES, Level, Requirement, Scope, Source, in_dialect
from conformance.contract.requirement import requirement_of as _requirement
from conformance.contract.standins import StoodIn, blind, stood_in

__all__ = [
    "DEFAULT_DIALECT",
    "DIALECTS",
    "MODEL_GROUP",
    "PATCH_SCHEMA",
    "SCHEMA_BASE",
    "SCHEMA_DIR",
    "SOURCE_FILES",
    "SPEC_DIR",
    "Contract",
    "ContractError",
    "EventRegistry",
    "EventRequirements",
    "EventType",
    "FastValidator",
    "Level",
    "Requirement",
    "Scope",
    "Source",
    "in_dialect",
    "load_contract",
    "model_names_of",
    "read_json",
    "schema_documents",
    "schema_errors",
    "spec_file",
    "spec_files",
    "spec_hash",
    "taken_errors",
    "with_model_names",
]


#: The schema of an update's session (a patch: every field optional), by file name.
PATCH_SCHEMA = "session-update-patch.json"


_T = TypeVar("_T")


@dataclass(frozen=True)
class FastValidator:
    """A jsonschema-rs validator as a yes/no that never raises: a value it cannot take (an integer
    beyond 64 bits of ours, say) is "not known valid", and the explaining validator decides."""

    compiled: Any
    #: Whether the schema judges a lone surrogate as its stand-in (`standins.blind`): then a value that
    #: holds one is judged through its copy that holds stand-ins, not left to Python `jsonschema`.
    blind: bool = False

    def is_valid(self, instance: Any) -> bool:
        try:  # the hot path (every event, several times an update): no closure, no tuple
            return bool(self.compiled.is_valid(instance))
        except (ValueError, OverflowError, TypeError) as exc:
            found = self._retried(exc, self.compiled.is_valid, instance)
        return found is not None and bool(found[0])

    def errors(self, instance: Any) -> list[tuple[str, str]] | None:
        """Each error's absolute keyword location and instance location (RFC 6901), in jsonschema-rs'
        order; None for a value it cannot take."""
        found = self._run(lambda value: list(self.compiled.evaluate(value).errors()), instance)
        if found is None:
            return None
        entries, stood = found
        back = stood.restored if stood is not None else str
        return [(e["absoluteKeywordLocation"], back(e["instanceLocation"])) for e in entries]

    def _run(self, call: Callable[[Any], _T], instance: Any) -> tuple[_T, StoodIn | None] | None:
        """`call` on the instance, or on its stand-in copy where it holds a lone surrogate (and that copy);
        None where jsonschema-rs cannot take it (an integer beyond 64 bits of ours, say)."""
        try:
            return call(instance), None
        except (ValueError, OverflowError, TypeError) as exc:
            return self._retried(exc, call, instance)

    def _retried(self, exc: Exception, call: Callable[[Any], _T], instance: Any) -> tuple[_T, StoodIn | None] | None:
        """After `call` raised `exc` on the instance: `call` on its stand-in copy where the value holds a lone
        surrogate (jsonschema-rs takes no such string) and the schema is blind to stand-ins; else None."""
        stood = stood_in(instance) if self.blind and isinstance(exc, UnicodeEncodeError) else None
        if stood is None:
            return None
        try:
            return call(stood.value), stood
        except (ValueError, OverflowError, TypeError):
            return None


def _any_of(validator: Any, any_of: list[Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    """`anyOf`, each branch tried up to its first error: jsonschema's lists every error of every branch
    (its `context`), which for a 30,000-item array under a nullable `anyOf` took seconds."""
    for index, subschema in enumerate(any_of):
        if next(validator.descend(instance, subschema, schema_path=index), None) is None:
            return
    yield ValidationError(f"{instance!r} is not valid under any of the given schemas")


def _one_of(validator: Any, one_of: list[Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    """`oneOf` as `_any_of` tries branches; its messages are jsonschema's."""
    valid = [s for i, s in enumerate(one_of) if next(validator.descend(instance, s, schema_path=i), None) is None]
    if not valid:
        yield ValidationError(f"{instance!r} is not valid under any of the given schemas")
    elif len(valid) > 1:
        yield ValidationError(
            f"{instance!r} is valid under each of {', '.join(repr(s) for s in valid[1:] + valid[:1])}"
        )


#: Draft 2020-12 with `_any_of` and `_one_of`: the same errors but for their `context`.
Short: Any = validators.extend(Draft202012Validator, {"anyOf": _any_of, "oneOf": _one_of})  # type: ignore[no-untyped-call]

#: How deep `schema_errors` keeps a value that Python `jsonschema` cannot describe: well inside Python's
#: recursion limit, and far below where any constraint of the events' schemas reaches (only the known
#: values' function parameters recurse, and a cut there can only make an update undetermined).
SHALLOW_DEPTH = 200


def schema_errors(validator: Draft202012Validator, instance: Any) -> list[ValidationError]:
    """`validator.iter_errors(instance)`, listed, for a value of any depth the parser read (`taken_errors`)."""
    return taken_errors(validator, instance, lambda error: error)


def taken_errors(validator: Any, instance: Any, take: Callable[[ValidationError], _T]) -> list[_T]:
    """What `take` keeps of each of `validator.iter_errors(instance)`, for a value of any depth the parser
    read; each error is dropped once taken (a hostile frame's 500,000 errors held 3 KB each).

    jsonschema writes each message with the failing value's repr, which fails past the depth Python's stack
    has left, while orjson reads 1,024 levels: such a value is validated as a copy cut at SHALLOW_DEPTH
    (arrays and objects below it emptied). The errors' paths and keywords are the same; their instances
    and messages are the copy's, so a message worded from the value takes it from `instance` by its path.
    """
    try:
        return [take(error) for error in validator.iter_errors(instance)]
    except RecursionError:
        return [take(error) for error in validator.iter_errors(_cut(instance, SHALLOW_DEPTH))]


def _cut(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        return {key: _cut(item, depth - 1) for key, item in value.items()} if depth > 0 else {}
    if isinstance(value, list):
        return [_cut(item, depth - 1) for item in value] if depth > 0 else []
    return value


@dataclass(frozen=True, eq=False)
class Contract:
    """Everything the checks and the oracle need, loaded from `conformance/spec/`."""

    version: str
    requirements: tuple[Requirement, ...]
    model_names: tuple[str, ...]
    validators: dict[str, Draft202012Validator]
    known_values: Draft202012Validator
    # The same schemas compiled by jsonschema-rs: a fast yes/no for the common, valid case. Only
    # `validators` explain errors; a test checks that both always agree on validity.
    fast: dict[str, FastValidator]
    fast_known_values: FastValidator
    #: `validators` of the events, but that an `anyOf` or `oneOf` lists no branch's errors (`Short`): what
    #: explains a server event (checks.frames), where only whether a branch holds matters. The documents
    #: they reach by `$ref` are copies whose root has no `$schema` (which would switch back to jsonschema's
    #: own class); `originals` gives a copy's root the node it copies (requirements are keyed by node).
    explainers: dict[str, Draft202012Validator] = dataclasses.field(default_factory=dict)
    originals: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: Older top-level names and newer nested ones for the same setting (spec/aliases.json).
    aliases: tuple[tuple[str, str], ...] = ()
    #: The schema documents as loaded (model names applied), by file name: what code derives
    #: field lists and example values from, so no module reads a spec file again.
    schemas: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: The known values on a session created as a given type, where the documents say something
    #: else for it (known-values.json's definition of that name); other types use `known_values`.
    known_by_type: dict[str, tuple[Draft202012Validator, FastValidator]] = dataclasses.field(default_factory=dict)
    #: The event registry (spec/events.json): who sends what, and what answers a client event.
    registry: EventRegistry = dataclasses.field(default_factory=lambda: EventRegistry(()))
    #: Each server event's schema requirement map (the `x-requirement` annotations).
    judged_by: dict[str, EventRequirements] = dataclasses.field(default_factory=dict)
    #: The dialect whose data this is, and its description (spec[/<dialect>]/dialect.json).
    dialect: str = DEFAULT_DIALECT
    dialect_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The schema documents for jsonschema-rs (what `fast` was compiled with), for `valid_at`.
    fast_registry: Any = None

    def __repr__(self) -> str:
        """Short: the contract is an argument of the generators' strategies, whose repr Hypothesis prints."""
        return f"Contract(dialect={self.dialect!r}, model_names={self.model_names!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """The same short form for Hypothesis' pretty printer, which prints a strategy's arguments and
        would otherwise walk a dataclass field by field (every schema: half a megabyte per strategy)."""
        printer.text(repr(self))

    @functools.cached_property
    def server_managed(self) -> frozenset[str]:
        """Session fields the server manages and may change between answers (dialect.json's
        `server_managed`: openai's expiry time); spec-notes' patch rule leaves them to the server."""
        return frozenset(self.dialect_info.get("server_managed", ()))

    @functools.cached_property
    def update_fields(self) -> frozenset[str]:
        """The documented members of a session.update event."""
        return frozenset(self.schemas["session.update.json"]["properties"])

    @functools.cached_property
    def patch_properties(self) -> dict[str, Any]:
        """The documented fields of an update's session, with their schemas."""
        properties: dict[str, Any] = self.schemas[PATCH_SCHEMA]["properties"]
        return properties

    def fields_of(self, session_type: Any) -> dict[str, str]:
        """The documented fields of an update's session of `session_type`, each with the JSON pointer of its
        schema in the patch schema (`PATCH_SCHEMA`): the patch's properties but those only another type's
        branch documents (openai's if/then/else on `type`: a transcription session has no `instructions`,
        so a server may ignore them there as any unknown field)."""
        by_type = self._fields_by_type
        return by_type.get(session_type, by_type[None]) if isinstance(session_type, str) else by_type[None]

    @functools.cached_property
    def _fields_by_type(self) -> dict[str | None, dict[str, str]]:
        """`fields_of` per type the patch schema's `if` names (`None`: every other type), derived from the schema."""
        patch = self.schemas[PATCH_SCHEMA]
        every = {name: f"/properties/{name}" for name in self.patch_properties}
        chosen = patch.get("if", {}).get("properties", {}).get("type", {})
        if not isinstance(chosen.get("const"), str):
            return {None: every}
        then, other = (patch.get(branch, {}).get("properties", {}) for branch in ("then", "else"))
        shared = {k: v for k, v in every.items() if k not in then and k not in other}

        def of(branch: str) -> dict[str, str]:
            return shared | {
                k: f"/{branch}/properties/{k}" for k in patch.get(branch, {}).get("properties", ()) if k in every
            }

        return {chosen["const"]: of("then"), None: of("else")}

    def valid_at(self, value: Any, doc: str, pointer: str) -> bool:
        """Whether `value` is valid by the schema at `doc#pointer` (a branch of a union, say)."""
        validator = self.validator_at(doc, pointer)
        return validator is not None and validator.is_valid(value)

    def validator_at(self, doc: str, pointer: str, items: bool = False) -> FastValidator | None:
        """A jsonschema-rs validator of the schema at `doc#pointer` (of an array whose items it judges, with
        `items`), made once; its errors name their keywords where the contract's documents hold them. None
        where it cannot be compiled."""
        key = ("items" if items else "validator", doc, pointer)
        if key not in self.schema_memo:
            ref: dict[str, Any] = {"$ref": f"{SCHEMA_BASE}{doc}#{quote(pointer, safe='/~')}"}
            try:
                self.schema_memo[key] = FastValidator(
                    jsonschema_rs.validator_for(
                        {"type": "array", "items": ref} if items else ref, registry=self.fast_registry
                    ),
                    self.fast_known_values.blind,  # one answer for all the contract's documents
                )
            except ValueError:  # a schema we cannot compile there: no value is known valid by it
                self.schema_memo[key] = None
        validator: FastValidator | None = self.schema_memo[key]
        return validator

    @functools.cached_property
    def schema_memo(self) -> dict[tuple[str, str, str], Any]:
        """What is derived from the schemas alone, per question and schema location, made once each (`valid_at`'s
        validators, `members`' resolved refs): bounded, as the locations come from the schemas, never a value."""
        return {}

    @functools.cached_property
    def read_only(self) -> frozenset[str]:
        """Fields the server owns (`readOnly` in the schema): it may ignore what an update sets there."""
        return frozenset(k for k, v in self.patch_properties.items() if v.get("readOnly"))

    @functools.cached_property
    def server_owned(self) -> frozenset[str]:
        """The session fields whose value the server keeps whatever an update sets: its read-only fields, and
        the model where updates may not change it (`model_fixed`: the SDK's "any field except ... model")."""
        return self.read_only | ({"model"} if self.dialect_info.get("model_fixed") else set())

    @property
    def events(self) -> tuple[EventType, ...]:
        return self.registry.events

    @property
    def client_events(self) -> tuple[str, ...]:
        return self.registry.client_events

    @property
    def server_events(self) -> tuple[str, ...]:
        return self.registry.server_events

    def answers_to(self, event: str) -> tuple[str, ...]:
        """The server events a client awaits after sending `event` (none for, say, appended audio)."""
        return self.registry.answers_to(event)

    def known_for(self, session_type: Any) -> tuple[Draft202012Validator, FastValidator]:
        """The known values (explaining and fast) on a session created as `session_type`."""
        default = (self.known_values, self.fast_known_values)
        return self.known_by_type.get(session_type, default) if isinstance(session_type, str) else default

    def model_id(self, folder: str, name: str | None = None) -> str:
        """A model ID of the dialect's form (dialect.json's `model_id`: `gpt://{folder}/{name}`, or a bare
        name) for `name`, the first supported model name by default."""
        return str(self.dialect_info["model_id"]).format(folder=folder, name=name or self.model_names[0])

    def requirement(self, requirement_id: str) -> Requirement:
        return self._by_id[requirement_id]

    @functools.cached_property
    def _by_id(self) -> dict[str, Requirement]:
        return {r.id: r for r in self.requirements}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements)


def _judged_by(
    registry: EventRegistry, by_id: dict[str, dict[str, Any]], schemas: Registry[Any], ids: set[str]
) -> dict[str, EventRequirements]:
    """Each server event's requirement map; fails where a requirement is not in the catalogue."""

    def resolve(base: str, ref: str) -> tuple[str, Any]:
        resolved = schemas.resolver(base).lookup(ref)
        return str(resolved.resolver._base_uri), resolved.contents

    out = {}
    for event in registry.events:
        if event.direction == "server":
            uri = SCHEMA_BASE + event.schema
            out[event.name] = annotate(event.name, by_id[uri], resolve, uri)
            unknown = out[event.name].ids - ids
            if unknown:
                raise ContractError(f"{event.schema}: x-requirement names {sorted(unknown)}, not in the catalogue")
    return out


@functools.cache
def load_contract(
    model_names: tuple[str, ...] | None = None, dialect: str = DEFAULT_DIALECT, spec_dir: Path | None = None
) -> Contract:
    """Load the dialect's contract; `model_names` replaces the supported model names of the schema;
    `spec_dir` loads another copy of the spec (a test's edited copy)."""
    spec_dir = spec_dir or SPEC_DIR
    catalogue = read_json(spec_file("requirements.json", dialect, spec_dir))
    entries = [e for e in catalogue["requirements"] if in_dialect(e, dialect)]
    dialect_info: dict[str, Any] = read_json(spec_file("dialect.json", dialect, spec_dir))
    registry_ = parse_registry(read_json(spec_file("events.json", dialect, spec_dir)))
    documents = schema_documents(model_names, dialect, spec_dir)
    by_id = dict(documents)
    registry = Registry().with_resources((uri, Resource.from_contents(schema)) for uri, schema in documents)
    fast_registry = jsonschema_rs.Registry(documents)
    stand_ins = blind(schema for _, schema in documents)
    copies = {uri: {k: v for k, v in schema.items() if k != "$schema"} for uri, schema in documents}
    short_registry = Registry().with_resources((uri, DRAFT202012.create_resource(c)) for uri, c in copies.items())
    known_uri = SCHEMA_BASE + "known-values.json"
    known = by_id[known_uri]

    def explaining(uri: str) -> Draft202012Validator:
        return Draft202012Validator(by_id[uri], registry=registry)

    def fast(uri: str) -> FastValidator:
        return FastValidator(jsonschema_rs.validator_for(by_id[uri], registry=fast_registry), stand_ins)

    def known_for(name: str) -> tuple[Draft202012Validator, FastValidator]:
        ref = {"$ref": f"{known_uri}#/$defs/{name}"}
        return Draft202012Validator(ref, registry=registry), FastValidator(
            jsonschema_rs.validator_for(ref, registry=fast_registry), stand_ins
        )

    judged_by = _judged_by(registry_, by_id, registry, {e["id"] for e in entries})
    return Contract(
        version=catalogue["version"],
        requirements=tuple(_requirement(e, judged_by, dialect) for e in entries),
        model_names=model_names or model_names_of(dialect_info),
        validators={e.name: explaining(SCHEMA_BASE + e.schema) for e in registry_.events},
        known_values=explaining(known_uri),
        fast={e.name: fast(SCHEMA_BASE + e.schema) for e in registry_.events},
        explainers={e.name: Short(by_id[SCHEMA_BASE + e.schema], registry=short_registry) for e in registry_.events},
        originals={id(copy): by_id[uri] for uri, copy in copies.items()},
        fast_known_values=fast(known_uri),
        aliases=tuple((a, b) for a, b in read_json(spec_file("aliases.json", dialect, spec_dir))["pairs"]),
        schemas={uri.removeprefix(SCHEMA_BASE): schema for uri, schema in documents},
        known_by_type={t: known_for(t) for t in known["properties"]["type"]["enum"] if t in known["$defs"]},
        registry=registry_,
        judged_by=judged_by,
        dialect=dialect,
        dialect_info=dialect_info,
        fast_registry=fast_registry,
    )

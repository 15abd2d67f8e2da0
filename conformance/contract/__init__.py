"""The contract as data: schemas, requirement catalogue and known-valid values, loaded once.

No I/O beyond reading the package's own spec files; everything else imports from here.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from conformance.contract.annotations import ContractError, EventRequirements, annotate
from conformance.contract.events import EventRegistry, EventType, parse_registry
from conformance.contract.files import (
    DEFAULT_DIALECT as DEFAULT_DIALECT,
)
from conformance.contract.files import (
    DIALECTS as DIALECTS,
)
from conformance.contract.files import (
    MODEL_GROUP as MODEL_GROUP,
)
from conformance.contract.files import (
    SCHEMA_BASE as SCHEMA_BASE,
)
from conformance.contract.files import (
    SCHEMA_DIR as SCHEMA_DIR,
)
from conformance.contract.files import (
    SPEC_DIR as SPEC_DIR,
)
from conformance.contract.files import (
    model_names_of as model_names_of,
)
from conformance.contract.files import (
    read_json as read_json,
)
from conformance.contract.files import (
    schema_documents as schema_documents,
)
from conformance.contract.files import (
    spec_file as spec_file,
)
from conformance.contract.files import (
    spec_files as spec_files,
)
from conformance.contract.files import (
    spec_hash as spec_hash,
)
from conformance.contract.files import (
    with_model_names as with_model_names,
)

Level = Literal["MUST", "SHOULD"]
Scope = Literal["event", "exchange"]

__all__ = ["ContractError", "EventRegistry", "EventRequirements", "EventType"]


#: The copy of each source document in conformance/spec/sources/.
SOURCE_FILES = {"seed": "seed-session-updated.txt", "spec-notes": "spec-notes.md"}


@dataclass(frozen=True)
class Source:
    """The sentence of a document a requirement comes from."""

    document: Literal["seed", "spec-notes"]
    quote: str
    section: str = ""  # the document's heading the quote is under
    url: str | None = None  # the upstream page, only where the document names it (the seed's header)

    @property
    def citation(self) -> str:
        """Where the rule comes from, in one line: the upstream URL where the document names one, and
        never an invented one (spec-notes names none: it is the project's own notes)."""
        file = SOURCE_FILES[self.document]
        if self.url:
            return f"{self.url} (in {file}, section {self.section!r})"
        return f"no upstream URL: project notes ({file}), section {self.section!r}"

    def to_json(self) -> dict[str, str]:
        doc = {"document": self.document, "quote": self.quote, "section": self.section, "citation": self.citation}
        return doc | ({"url": self.url} if self.url else {})


@dataclass(frozen=True)
class Requirement:
    """One checked rule of the contract, with a stable ID."""

    id: str
    level: Level
    scope: Scope
    event: str
    path: str
    title: str
    source: Source
    #: The events whose schema names it beside a keyword (`x-requirement`), and those keywords
    #: (empty: every keyword of its nodes): derived from the schemas when the contract is loaded.
    events: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    #: The dialects the requirement exists in (empty: every dialect).
    dialects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "scope": self.scope,
            "event": self.event,
            "path": self.path,
            "title": self.title,
            "source": self.source.to_json(),
        }


@dataclass(frozen=True)
class FastValidator:
    """A jsonschema-rs validator as a yes/no that never raises: a value it cannot take (an integer
    beyond 64 bits of ours, say) is "not known valid", and the explaining validator decides."""

    compiled: Any

    def is_valid(self, instance: Any) -> bool:
        try:
            return bool(self.compiled.is_valid(instance))
        except (ValueError, OverflowError, TypeError):
            return False


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

    def __repr__(self) -> str:
        """Short: the contract is an argument of the generators' strategies, whose repr Hypothesis prints."""
        return f"Contract(dialect={self.dialect!r}, model_names={self.model_names!r})"

    @functools.cached_property
    def update_fields(self) -> frozenset[str]:
        """The documented members of a session.update event."""
        return frozenset(self.schemas["session.update.json"]["properties"])

    @functools.cached_property
    def patch_properties(self) -> dict[str, Any]:
        """The documented fields of an update's session, with their schemas."""
        properties: dict[str, Any] = self.schemas["session-update-patch.json"]["properties"]
        return properties

    @functools.cached_property
    def read_only(self) -> frozenset[str]:
        """Fields the server owns (`readOnly` in the schema): it may ignore what an update sets there."""
        return frozenset(k for k, v in self.patch_properties.items() if v.get("readOnly"))

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

    def requirement(self, requirement_id: str) -> Requirement:
        return self._by_id[requirement_id]

    @functools.cached_property
    def _by_id(self) -> dict[str, Requirement]:
        return {r.id: r for r in self.requirements}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements)


def _requirement(entry: dict[str, Any], judged_by: dict[str, EventRequirements], dialect: str) -> Requirement:
    events = tuple(event for event, found in judged_by.items() if entry["id"] in found.ids)
    keywords = sorted({kw for found in judged_by.values() for kw in found.keywords_of(entry["id"])})
    return Requirement(
        id=entry["id"],
        level=entry["level"],
        scope=entry["scope"],
        event=entry["event"],
        path=entry["path"],
        title=entry["title"],
        source=Source(**entry.get("sources", {}).get(dialect, entry["source"])),
        events=events,
        keywords=tuple(keywords),
        dialects=tuple(entry.get("dialects", ())),
    )


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


def in_dialect(entry: dict[str, Any], dialect: str) -> bool:
    """Whether a catalogue entry exists in the dialect (an entry naming no dialects is in every one)."""
    return dialect in entry.get("dialects", DIALECTS)


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
    known_uri = SCHEMA_BASE + "known-values.json"
    known = by_id[known_uri]

    def explaining(uri: str) -> Draft202012Validator:
        return Draft202012Validator(by_id[uri], registry=registry)

    def fast(uri: str) -> FastValidator:
        return FastValidator(jsonschema_rs.validator_for(by_id[uri], registry=fast_registry))

    def known_for(name: str) -> tuple[Draft202012Validator, FastValidator]:
        ref = {"$ref": f"{known_uri}#/$defs/{name}"}
        return Draft202012Validator(ref, registry=registry), FastValidator(
            jsonschema_rs.validator_for(ref, registry=fast_registry)
        )

    judged_by = _judged_by(registry_, by_id, registry, {e["id"] for e in entries})
    return Contract(
        version=catalogue["version"],
        requirements=tuple(_requirement(e, judged_by, dialect) for e in entries),
        model_names=model_names or model_names_of(by_id[SCHEMA_BASE + "realtime-session.json"], dialect_info),
        validators={e.name: explaining(SCHEMA_BASE + e.schema) for e in registry_.events},
        known_values=explaining(known_uri),
        fast={e.name: fast(SCHEMA_BASE + e.schema) for e in registry_.events},
        fast_known_values=fast(known_uri),
        aliases=tuple((a, b) for a, b in read_json(spec_file("aliases.json", dialect, spec_dir))["pairs"]),
        schemas={uri.removeprefix(SCHEMA_BASE): schema for uri, schema in documents},
        known_by_type={t: known_for(t) for t in known["properties"]["type"]["enum"] if t in known["$defs"]},
        registry=registry_,
        judged_by=judged_by,
        dialect=dialect,
        dialect_info=dialect_info,
    )

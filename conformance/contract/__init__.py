"""The contract as data: schemas, requirement catalogue and known-valid values, loaded once.

No I/O beyond reading the package's own spec files; everything else imports from here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC_DIR = Path(str(resources.files("conformance") / "spec"))
SCHEMA_DIR = SPEC_DIR / "schemas"
SCHEMA_BASE = "https://realtime-conformance.dev/schemas/"

#: The dialects the contract speaks: the root of spec/ is yandex (the seed's); another dialect is an
#: overlay folder spec/<name>/ holding only the files it says differently (see `spec_file`).
DIALECTS = ("yandex", "openai")
DEFAULT_DIALECT = "yandex"

Level = Literal["MUST", "SHOULD"]
Scope = Literal["event", "exchange"]

#: The documented events, each judged against the schema file of the same name.
EVENT_TYPES = ("session.update", "session.created", "session.updated", "error")
SERVER_EVENT_TYPES = ("session.created", "session.updated", "error")


@dataclass(frozen=True)
class Source:
    """The sentence of a document a requirement comes from."""

    document: Literal["seed", "spec-notes"]
    quote: str
    section: str = ""  # the document's heading the quote is under
    url: str | None = None  # the upstream page, only where the document names it (the seed's header)

    def to_json(self) -> dict[str, str]:
        doc = {"document": self.document, "quote": self.quote, "section": self.section}
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
    #: The dialect whose data this is, and its description (spec[/<dialect>]/dialect.json).
    dialect: str = DEFAULT_DIALECT
    dialect_info: dict[str, Any] = dataclasses.field(default_factory=dict)

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


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


MODEL_GROUP = re.compile(r"\(([^()]*)\)\$$")


def spec_file(relative: str, dialect: str = DEFAULT_DIALECT) -> Path:
    """A spec file as the dialect has it: its overlay's copy when it has one, else the root's."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    overlay = SPEC_DIR / dialect / relative
    return overlay if dialect != DEFAULT_DIALECT and overlay.is_file() else SPEC_DIR / relative


def model_names_of(session_schema: dict[str, Any], dialect_info: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The supported model names: the dialect's list, else the alternatives of the group in `model`'s pattern."""
    if dialect_info and dialect_info.get("model_names"):
        return tuple(dialect_info["model_names"])
    match = MODEL_GROUP.search(session_schema["properties"]["model"]["pattern"])
    assert match, "realtime-session.json: the model pattern must end with a (name|name)$ group"
    return tuple(name.replace("\\", "") for name in match[1].split("|"))


def with_model_names(session_schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy of the RealtimeSession schema that accepts exactly these model names."""
    schema: dict[str, Any] = json.loads(json.dumps(session_schema))
    if not MODEL_GROUP.search(schema["properties"]["model"].get("pattern", "")):
        return schema  # a dialect whose model rule names no models (openai: any model name)
    group = "|".join(re.escape(n) for n in names)
    schema["properties"]["model"]["pattern"] = MODEL_GROUP.sub(f"({group})$", schema["properties"]["model"]["pattern"])
    return schema


def schema_documents(
    model_names: tuple[str, ...] | None = None, dialect: str = DEFAULT_DIALECT
) -> list[tuple[str, dict[str, Any]]]:
    """Every schema file of the dialect by its `$id`, with the supported model names applied."""
    documents = []
    names = {p.name for p in SCHEMA_DIR.glob("*.json")} | {
        p.name for p in (SPEC_DIR / dialect / "schemas").glob("*.json")
    }
    for name in sorted(names):
        schema = read_json(spec_file(f"schemas/{name}", dialect))
        if name == "realtime-session.json" and model_names:
            schema = with_model_names(schema, model_names)
        documents.append((schema["$id"], schema))
    documents.append((SCHEMA_BASE + "known-values.json", read_json(spec_file("known-values.json", dialect))))
    return documents


def _requirement(entry: dict[str, Any], dialect: str = DEFAULT_DIALECT) -> Requirement:
    source = entry.get("sources", {}).get(dialect, entry["source"])
    return Requirement(
        id=entry["id"],
        level=entry["level"],
        scope=entry["scope"],
        event=entry["event"],
        path=entry["path"],
        title=entry["title"],
        source=Source(**source),
        events=tuple(entry.get("events", ())),
        keywords=tuple(entry.get("keywords", ())),
        dialects=tuple(entry.get("dialects", ())),
    )


def in_dialect(entry: dict[str, Any], dialect: str) -> bool:
    """Whether a catalogue entry exists in the dialect (an entry naming no dialects is in every one)."""
    return dialect in entry.get("dialects", DIALECTS)


@functools.cache
def load_contract(model_names: tuple[str, ...] | None = None, dialect: str = DEFAULT_DIALECT) -> Contract:
    """Load the dialect's contract; `model_names` replaces the supported model names of the schema."""
    catalogue = read_json(spec_file("requirements.json", dialect))
    dialect_info: dict[str, Any] = read_json(spec_file("dialect.json", dialect))
    documents = schema_documents(model_names, dialect)
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

    return Contract(
        version=catalogue["version"],
        requirements=tuple(_requirement(e, dialect) for e in catalogue["requirements"] if in_dialect(e, dialect)),
        model_names=model_names or model_names_of(by_id[SCHEMA_BASE + "realtime-session.json"], dialect_info),
        validators={t: explaining(f"{SCHEMA_BASE}{t}.json") for t in EVENT_TYPES},
        known_values=explaining(known_uri),
        fast={t: fast(f"{SCHEMA_BASE}{t}.json") for t in EVENT_TYPES},
        fast_known_values=fast(known_uri),
        aliases=tuple((a, b) for a, b in read_json(spec_file("aliases.json", dialect))["pairs"]),
        schemas={uri.removeprefix(SCHEMA_BASE): schema for uri, schema in documents},
        known_by_type={t: known_for(t) for t in known["properties"]["type"]["enum"] if t in known["$defs"]},
        dialect=dialect,
        dialect_info=dialect_info,
    )


def spec_files() -> list[Path]:
    """Every file the verdict depends on, in a stable order (what the spec hash covers)."""
    return sorted(p for p in SPEC_DIR.rglob("*") if p.is_file() and p.suffix in {".json", ".txt", ".md"})


@functools.cache
def spec_hash() -> str:
    digest = hashlib.sha256()
    for path in spec_files():
        digest.update(path.relative_to(SPEC_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()

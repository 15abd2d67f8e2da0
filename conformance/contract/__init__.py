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

Level = Literal["MUST", "SHOULD"]
Scope = Literal["event", "exchange"]

#: The documented events, each judged against the schema file of the same name.
EVENT_TYPES = ("session.update", "session.created", "session.updated", "error")
SERVER_EVENT_TYPES = ("session.created", "session.updated", "error")


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
    events: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

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


def model_names_of(session_schema: dict[str, Any]) -> tuple[str, ...]:
    """The supported model names: the alternatives of the group in `model`'s pattern."""
    match = MODEL_GROUP.search(session_schema["properties"]["model"]["pattern"])
    assert match, "realtime-session.json: the model pattern must end with a (name|name)$ group"
    return tuple(name.replace("\\", "") for name in match[1].split("|"))


def with_model_names(session_schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy of the RealtimeSession schema that accepts exactly these model names."""
    schema: dict[str, Any] = json.loads(json.dumps(session_schema))
    group = "|".join(re.escape(n) for n in names)
    schema["properties"]["model"]["pattern"] = MODEL_GROUP.sub(f"({group})$", schema["properties"]["model"]["pattern"])
    return schema


def schema_documents(model_names: tuple[str, ...] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every schema file by its `$id`, with the supported model names applied."""
    documents = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = read_json(path)
        if path.name == "realtime-session.json" and model_names:
            schema = with_model_names(schema, model_names)
        documents.append((schema["$id"], schema))
    documents.append((SCHEMA_BASE + "known-values.json", read_json(SPEC_DIR / "known-values.json")))
    return documents


def _requirement(entry: dict[str, Any]) -> Requirement:
    return Requirement(
        id=entry["id"],
        level=entry["level"],
        scope=entry["scope"],
        event=entry["event"],
        path=entry["path"],
        title=entry["title"],
        source=Source(**entry["source"]),
        events=tuple(entry.get("events", ())),
        keywords=tuple(entry.get("keywords", ())),
    )


@functools.cache
def load_contract(model_names: tuple[str, ...] | None = None) -> Contract:
    """Load the contract; `model_names` replaces the supported model names of the schema."""
    catalogue = read_json(SPEC_DIR / "requirements.json")
    documents = schema_documents(model_names)
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
        requirements=tuple(_requirement(e) for e in catalogue["requirements"]),
        model_names=model_names or model_names_of(by_id[SCHEMA_BASE + "realtime-session.json"]),
        validators={t: explaining(f"{SCHEMA_BASE}{t}.json") for t in EVENT_TYPES},
        known_values=explaining(known_uri),
        fast={t: fast(f"{SCHEMA_BASE}{t}.json") for t in EVENT_TYPES},
        fast_known_values=fast(known_uri),
        aliases=tuple((a, b) for a, b in read_json(SPEC_DIR / "aliases.json")["pairs"]),
        schemas={uri.removeprefix(SCHEMA_BASE): schema for uri, schema in documents},
        known_by_type={t: known_for(t) for t in known["properties"]["type"]["enum"] if t in known["$defs"]},
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

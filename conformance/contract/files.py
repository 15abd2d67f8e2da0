"""The spec's files: where they are, how a dialect's overlay is read, and the hash that names them."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

SPEC_DIR = Path(str(resources.files("conformance") / "spec"))
SCHEMA_DIR = SPEC_DIR / "schemas"
SCHEMA_BASE = "https://realtime-conformance.dev/schemas/"

#: The dialects the contract speaks: the root of spec/ is yandex (the seed's); another dialect is an
#: overlay folder spec/<name>/ holding only the files it says differently (see `spec_file`).
DIALECTS = ("yandex", "openai")
DEFAULT_DIALECT = "yandex"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


#: Where the supported model names go in a model ID pattern: its closing group (`...(names)$`).
MODEL_GROUP = re.compile(r"\(([^()]*)\)\$$")


def spec_file(relative: str, dialect: str = DEFAULT_DIALECT, spec_dir: Path = SPEC_DIR) -> Path:
    """A spec file as the dialect has it: its overlay's copy when it has one, else the root's."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    overlay = spec_dir / dialect / relative
    return overlay if dialect != DEFAULT_DIALECT and overlay.is_file() else spec_dir / relative


def model_names_of(dialect_info: dict[str, Any]) -> tuple[str, ...]:
    """The supported model names: data (dialect.json's `model_names`), which the model pattern is built from."""
    return tuple(dialect_info["model_names"])


def with_model_names(session_schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy of the RealtimeSession schema that accepts exactly these model names: its model pattern's
    closing group (yandex: `gpt://<folder-id>/(...)$`) becomes the names, escaped."""
    schema: dict[str, Any] = json.loads(json.dumps(session_schema))
    if not MODEL_GROUP.search(schema["properties"]["model"].get("pattern", "")):
        return schema  # a dialect whose model rule names no models (openai: any model name)
    # only the regex syntax characters (ECMA-262 rejects `\-` outside a class, which re.escape writes)
    group = "|".join(re.sub(r"[\\^$.*+?()[\]{}|/]", lambda m: "\\" + m[0], n) for n in names)
    schema["properties"]["model"]["pattern"] = MODEL_GROUP.sub(f"({group})$", schema["properties"]["model"]["pattern"])
    return schema


def schema_documents(
    model_names: tuple[str, ...] | None = None, dialect: str = DEFAULT_DIALECT, spec_dir: Path = SPEC_DIR
) -> list[tuple[str, dict[str, Any]]]:
    """Every schema file of the dialect by its `$id`, with the supported model names applied (these, or
    the dialect's own)."""
    supported = model_names or model_names_of(read_json(spec_file("dialect.json", dialect, spec_dir)))
    documents = []
    names = {p.name for p in (spec_dir / "schemas").glob("*.json")}
    names |= {p.name for p in (spec_dir / dialect / "schemas").glob("*.json")}
    for name in sorted(names):
        schema = read_json(spec_file(f"schemas/{name}", dialect, spec_dir))
        if name == "realtime-session.json":
            schema = with_model_names(schema, supported)
        documents.append((schema["$id"], schema))
    known = read_json(spec_file("known-values.json", dialect, spec_dir))
    documents.append((SCHEMA_BASE + "known-values.json", known))
    return documents


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

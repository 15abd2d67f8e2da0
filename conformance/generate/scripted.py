"""The scripted connections of the smoke profile: data (conformance/suite/scripted.json), read as plans."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from conformance.contract import DEFAULT_DIALECT, SPEC_DIR
from conformance.generate.plan import Plan
from conformance.generate.strategies import as_text

SCRIPTED = Path(str(resources.files("conformance") / "suite" / "scripted.json"))


def scripted_plans(dialect: str = DEFAULT_DIALECT) -> list[Plan]:
    """The fixed connections of the smoke profile (conformance/suite/scripted.json, or the dialect's own
    spec/<dialect>/scripted.json where its known-valid values differ)."""
    overlay = SPEC_DIR / dialect / "scripted.json"
    source = overlay if dialect != DEFAULT_DIALECT and overlay.is_file() else SCRIPTED
    data = json.loads(source.read_text(encoding="utf-8"))
    return [Plan(c["label"], tuple(as_text(u) for u in c["updates"])) for c in data["connections"]]

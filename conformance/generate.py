"""Exchanges to send: the scripted ones (smoke) and generated ones (Hypothesis + schemathesis).

Generators only propose; every update is classified by the oracle when it is judged, so a
generator that makes a mistake costs coverage, never a false verdict. Nothing here does I/O.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from conformance.runner import Plan

SCRIPTED = Path(str(resources.files("conformance") / "suite" / "scripted.json"))


def as_text(update: object) -> str:
    return update if isinstance(update, str) else json.dumps(update)


def scripted_plans() -> list[Plan]:
    """The fixed connections of the smoke profile (conformance/suite/scripted.json)."""
    data = json.loads(SCRIPTED.read_text(encoding="utf-8"))
    return [Plan(c["label"], tuple(as_text(u) for u in c["updates"])) for c in data["connections"]]

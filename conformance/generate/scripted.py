"""The scripted connections of the smoke profile: data (conformance/spec/scripted.json), read as plans."""

from __future__ import annotations

from conformance.contract import DEFAULT_DIALECT, read_json, spec_file
from conformance.generate.plan import Plan
from conformance.generate.strategies import as_text


def scripted_plans(dialect: str = DEFAULT_DIALECT) -> list[Plan]:
    """The fixed connections of the smoke profile: the dialect's spec/scripted.json (its overlay's copy,
    spec/<dialect>/scripted.json, where its known-valid values differ)."""
    data = read_json(spec_file("scripted.json", dialect))
    return [Plan(c["label"], tuple(as_text(u) for u in c["updates"])) for c in data["connections"]]

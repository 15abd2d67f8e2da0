"""The requirement catalogue: well-formed, quoted from its sources, and every entry checked."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from conformance.checks import CHECKS, requirement_for
from conformance.contract import SPEC_DIR, load_contract, read_json

CONTRACT = load_contract()
SOURCES = {"seed": "sources/seed-session-updated.txt", "spec-notes": "sources/spec-notes.md"}


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_catalogue_follows_its_schema() -> None:
    schema = read_json(SPEC_DIR / "requirements.schema.json")
    errors = list(Draft202012Validator(schema).iter_errors(read_json(SPEC_DIR / "requirements.json")))
    assert not errors, errors[0].message


def test_requirement_ids_are_unique() -> None:
    assert len(set(CONTRACT.ids)) == len(CONTRACT.ids)


@pytest.mark.parametrize("requirement", CONTRACT.requirements, ids=CONTRACT.ids)
def test_source_quote_is_in_its_document(requirement) -> None:  # type: ignore[no-untyped-def]
    document = normalized((SPEC_DIR / SOURCES[requirement.source.document]).read_text(encoding="utf-8"))
    assert normalized(requirement.source.quote) in document


def test_every_requirement_has_a_check_and_every_check_a_requirement() -> None:
    exchange = {r.id for r in CONTRACT.requirements if r.scope == "exchange"}
    schema_judged = {rid for judged_by in CONTRACT.judged_by.values() for rid in judged_by.ids}
    assert exchange <= set(CHECKS)
    assert set(CONTRACT.ids) == schema_judged | set(CHECKS)
    assert not schema_judged & set(CHECKS), "a requirement is judged by the schema or by one check, not both"


@pytest.mark.parametrize(
    "requirement", [r for r in CONTRACT.requirements if r.events], ids=[r.id for r in CONTRACT.requirements if r.events]
)
def test_every_schema_judged_requirement_is_reachable_from_its_schema(requirement) -> None:  # type: ignore[no-untyped-def]
    keyword = requirement.keywords[0] if requirement.keywords else "type"
    keyword = "const" if requirement.path == "type" and keyword == "type" else keyword
    for event_type in requirement.events:
        assert requirement_for(CONTRACT, event_type, requirement.path, keyword).id == requirement.id


def test_catalogue_covers_every_documented_session_field() -> None:
    fields = read_json(SPEC_DIR / "schemas" / "realtime-session.json")["properties"]
    paths = {r.path for r in CONTRACT.requirements}
    assert {f"session.{name}" for name in fields} <= paths


def test_requirements_command_json_matches_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli.main import main

    assert main(["requirements", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in printed["requirements"]] == list(CONTRACT.ids)

"""`x-requirement`: every assertion keyword of every server event's schema names the requirement it
judges, beside it; a keyword that names none fails the contract's load, never guessed from a path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conformance.checks import check_event
from conformance.contract import SPEC_DIR, ContractError, load_contract
from conformance.contract.annotations import ASSERTIONS

CONTRACT = load_contract()


def test_every_server_event_of_the_registry_has_its_schema_annotated() -> None:
    assert set(CONTRACT.judged_by) == set(CONTRACT.server_events)


@pytest.mark.parametrize("event", CONTRACT.server_events)
def test_every_assertion_keyword_names_a_requirement_of_the_catalogue(event: str) -> None:
    judged_by = CONTRACT.judged_by[event]
    asserted = 0
    for node, _ in judged_by.nodes.values():
        for keyword in sorted(ASSERTIONS & set(node)):
            for member in node["required"] if keyword == "required" else [None]:
                if node is judged_by.nodes[id(node)][0] and _is_discriminator(event, node, keyword, member):
                    continue
                assert judged_by.requirement(node, keyword, member) in CONTRACT.ids
                asserted += 1
    assert asserted > 0


def _is_discriminator(event: str, node: dict[str, object], keyword: str, member: str | None) -> bool:
    """What recognised the event before its schema: the root's `type: object` (the frame check) and
    its `type` member (the event's name); neither can fail when judged as that event."""
    root = CONTRACT.schemas[CONTRACT.registry.event(event).schema]
    properties = root.get("properties")
    type_node = properties.get("type") if isinstance(properties, dict) else None
    if node is root:
        return keyword == "type" or member == "type"
    return node is type_node and node.get("const") == event


def spec_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "spec"
    shutil.copytree(SPEC_DIR, copy)
    return copy


def with_model_max_length(spec: Path, requirement: str | None) -> None:
    path = spec / "schemas" / "realtime-session.json"
    schema = json.loads(path.read_text())
    model = schema["properties"]["model"]
    model["maxLength"] = 80
    if requirement is not None:
        model["x-requirement"] = {**model["x-requirement"], "maxLength": requirement}
    path.write_text(json.dumps(schema))


def test_a_keyword_without_a_requirement_fails_the_load_loudly(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path)
    with_model_max_length(spec, None)
    with pytest.raises(ContractError, match="maxLength"):
        load_contract(spec_dir=spec)


def test_a_keyword_naming_an_unknown_requirement_fails_the_load(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path)
    with_model_max_length(spec, "RS-NO-SUCH-RULE")
    with pytest.raises(ContractError, match="RS-NO-SUCH-RULE"):
        load_contract(spec_dir=spec)


def test_a_max_length_on_session_model_reports_its_own_requirement_not_SU_SESSION(tmp_path: Path) -> None:
    """The longest-path guess this replaced reported any new keyword under `session` as SU-SESSION."""
    spec = spec_copy(tmp_path)
    with_model_max_length(spec, "RS-MODEL-FORMAT")
    contract = load_contract(spec_dir=spec)
    model = "gpt://" + "f" * 80 + "/speech-realtime-250923"
    event = {"type": "session.updated", "event_id": "e1", "session": {"type": "realtime", "model": model}}
    assert {v.requirement for v in check_event(event, contract)} == {"RS-MODEL-FORMAT"}
    assert {v.requirement for v in check_event(event, CONTRACT)} == set()


def test_a_pickled_contract_still_attributes_schema_errors() -> None:
    """The annotation map is keyed by node identity: a copy (another process) must key its own nodes."""
    import pickle

    copy = pickle.loads(pickle.dumps(CONTRACT.judged_by["session.updated"]))
    node = next(n for n, _ in copy.nodes.values() if n.get("pattern"))
    assert copy.requirement(node, "pattern") == "RS-MODEL-FORMAT"

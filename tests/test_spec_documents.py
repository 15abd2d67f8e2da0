"""The three renderings of the contract agree, and each is valid for its format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft7Validator
from openapi_spec_validator import validate as validate_openapi
from schemathesis import GenerationMode

from conformance.contract import DEFAULT_DIALECT, DIALECTS, SPEC_DIR, load_contract, read_json
from conformance.contract.oracle import classify
from conformance.contract.specgen import RENDERED, dumps, main, render_asyncapi

ASYNCAPI_SCHEMA = Path(__file__).resolve().parent.parent / "node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"


def test_committed_renderings_equal_what_the_schemas_render() -> None:
    for file, render in RENDERED.items():
        committed = (SPEC_DIR / file).read_text(encoding="utf-8")
        assert committed == dumps(render(None)), f"{file} is stale: run python -m conformance.contract.specgen"


def test_openapi_document_is_valid_openapi_3_1() -> None:
    document = read_json(SPEC_DIR / "openapi.json")
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)


def _asyncapi_of(dialect: str) -> dict[str, Any]:
    """The dialect's AsyncAPI document: the committed file for the default dialect, else rendered."""
    if dialect == DEFAULT_DIALECT:
        return read_json(SPEC_DIR / "asyncapi.json")
    return render_asyncapi(load_contract(None, dialect))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_asyncapi_document_is_valid_asyncapi_3_0(dialect: str) -> None:
    assert ASYNCAPI_SCHEMA.exists(), "run `npm ci` (the README's commands do) to get @asyncapi/specs"
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    document = _asyncapi_of(dialect)
    errors = sorted(Draft7Validator(schema).iter_errors(document), key=str)
    assert not errors, errors[0].message


def _session_fields(document: dict[str, Any]) -> set[str]:
    """The session fields the document's received session.updated message names: followed from the
    receive operation through the message and its payload, as AsyncAPI tooling reads it."""

    def resolved(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = document
            for key in node["$ref"].removeprefix("#/").split("/"):
                target = target[key]
            node = target
        return node

    messages = [resolved(m) for m in document["operations"]["receiveSessionEvents"]["messages"]]
    (updated,) = [resolved(m) for m in messages if m["name"] == "session.updated"]
    session = resolved(resolved(updated["payload"])["properties"]["session"])
    branches = [session, *(session.get(k, {}) for k in ("then", "else"))]
    return {field for branch in branches for field in branch.get("properties", {})}


def _contract_session_fields(dialect: str) -> set[str]:
    schema = load_contract(None, dialect).schemas["realtime-session.json"]
    branches = [schema, *(schema.get(k, {}) for k in ("then", "else"))]
    return {field for branch in branches for field in branch.get("properties", {})}


def test_the_openai_asyncapi_names_the_openai_session_fields_and_endpoint() -> None:
    openai, yandex = _contract_session_fields("openai"), _contract_session_fields(DEFAULT_DIALECT)
    assert openai - yandex  # the GA fields the SDK types (expires_at, max_output_tokens, ...)
    document = _asyncapi_of("openai")
    assert _session_fields(document) == openai
    assert _session_fields(_asyncapi_of(DEFAULT_DIALECT)) == yandex
    (server,) = document["servers"].values()
    endpoint = load_contract(None, "openai").dialect_info["endpoint"]
    assert endpoint.startswith(f"{server['protocol']}://{server['host']}{server['pathname']}?")


def test_specgen_writes_another_dialects_documents_where_it_is_told(tmp_path: Path) -> None:
    main(["--dialect", "openai", "--out", str(tmp_path / "openai")])
    contract = load_contract(None, "openai")
    for file, render in RENDERED.items():
        assert (tmp_path / "openai" / file).read_text(encoding="utf-8") == dumps(render(contract))
    with pytest.raises(SystemExit) as exit_:
        main(["--dialect", "openai"])  # spec/ holds the default dialect's documents
    assert exit_.value.code == 2


def test_renderings_reference_one_component_per_schema_file() -> None:
    openapi = read_json(SPEC_DIR / "openapi.json")
    asyncapi = read_json(SPEC_DIR / "asyncapi.json")
    assert openapi["components"]["schemas"] == asyncapi["components"]["schemas"]
    body = openapi["paths"]["/v1/realtime/client-events/session.update"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SessionUpdateEvent"}


def test_schemathesis_positive_bodies_are_never_invalid_for_the_oracle() -> None:
    schema = schemathesis.openapi.from_dict(read_json(SPEC_DIR / "openapi.json"))
    operation = schema["/v1/realtime/client-events/session.update"]["POST"]
    contract = load_contract()
    seen = []

    @given(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(max_examples=40, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    def body_is_schema_valid(case: schemathesis.Case) -> None:
        seen.append(case.body)
        assert classify(json.dumps(case.body), contract).kind != "invalid"

    body_is_schema_valid()
    assert seen

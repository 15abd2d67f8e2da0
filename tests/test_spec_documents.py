"""The three renderings of the contract agree, and each is valid for its format."""

from __future__ import annotations

import json
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft7Validator
from openapi_spec_validator import validate as validate_openapi
from schemathesis import GenerationMode

from conformance.contract import SPEC_DIR, load_contract, read_json
from conformance.contract.oracle import classify
from conformance.contract.specgen import RENDERED, dumps

ASYNCAPI_SCHEMA = Path(__file__).resolve().parent.parent / "node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"


def test_committed_renderings_equal_what_the_schemas_render() -> None:
    for file, render in RENDERED.items():
        committed = (SPEC_DIR / file).read_text(encoding="utf-8")
        assert committed == dumps(render()), f"{file} is stale: run python -m conformance.contract.specgen"


def test_openapi_document_is_valid_openapi_3_1() -> None:
    document = read_json(SPEC_DIR / "openapi.json")
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)


def test_asyncapi_document_is_valid_asyncapi_3_0() -> None:
    assert ASYNCAPI_SCHEMA.exists(), "run `npm ci` (the README's commands do) to get @asyncapi/specs"
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    document = read_json(SPEC_DIR / "asyncapi.json")
    errors = sorted(Draft7Validator(schema).iter_errors(document), key=str)
    assert not errors, errors[0].message


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

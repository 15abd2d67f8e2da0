"""Schemathesis' cases for session.update, from the OpenAPI rendering of the run's contract (its
dialect's schemas: contract/specgen.py, which also writes spec/openapi.json for the default one): its
drawn bodies (positive and negative) and its deterministic coverage cases.

Schemathesis is imported when first drawn from (`_schemathesis`), not with this module: it takes a
tenth of a second to import, and a smoke run never draws.
"""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any

import hypothesis.strategies as st

from conformance.contract import Contract, load_contract
from conformance.contract.oracle import DEFAULT_SESSION_TYPE
from conformance.contract.specgen import render_openapi
from conformance.generate.fields import coercible
from conformance.generate.plan import Plan


@functools.cache
def _schemathesis() -> ModuleType:
    import schemathesis  # the one lazy import: see the module docstring

    return schemathesis


@functools.cache
def _session_update_operation(contract: Contract) -> Any:
    schema = _schemathesis().openapi.from_dict(render_openapi(contract))
    return schema[contract.registry.event("session.update").page]["POST"]


def _body_text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else json.dumps(body)


@functools.cache
def schemathesis_bodies(negative: bool, contract: Contract | None = None) -> st.SearchStrategy[str]:
    modes = _schemathesis().GenerationMode
    mode = modes.NEGATIVE if negative else modes.POSITIVE
    spoken = contract if contract is not None else load_contract()
    strategy: st.SearchStrategy[Any] = _session_update_operation(spoken).as_strategy(generation_mode=mode)
    # mapped, not filtered: a filter would change what every seed draws, where nothing is replaced
    return strategy.map(lambda case: _not_lax(_body_text(case.body), spoken))


def _not_lax(text: str, contract: Contract) -> str:
    """The body, or, where a server validating laxly accepts it (`fields.coercible`), that body in an
    array: an update no server may accept, sent instead of one that proves nothing."""
    return f"[{text}]" if _lax_valid(text, contract) else text


def _lax_valid(text: str, contract: Contract) -> bool:
    """A body that a server validating laxly accepts (`fields.coercible`): not sent."""
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and coercible(body, contract)


COVERAGE_PER_CONNECTION = 5


def coverage_plans(contract: Contract | None = None) -> list[Plan]:
    """Schemathesis' coverage phase: its deterministic boundary cases (positive and negative) for
    session.update, five to a connection, each connection opened by a valid update."""
    modes, not_set = _schemathesis().GenerationMode, _schemathesis().core.NOT_SET
    spoken = contract if contract is not None else load_contract()
    operation = _session_update_operation(spoken)
    schema = operation.schema
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=[modes.POSITIVE, modes.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    )
    bodies = list(dict.fromkeys(_body_text(case.body) for case in cases if case.body is not not_set))
    bodies = [text for text in bodies if not _lax_valid(text, spoken)]
    opening = json.dumps({"type": "session.update", "event_id": "cov-0", "session": {"type": DEFAULT_SESSION_TYPE}})
    return [
        Plan(f"coverage #{i // COVERAGE_PER_CONNECTION + 1}", (opening, *bodies[i : i + COVERAGE_PER_CONNECTION]))
        for i in range(0, len(bodies), COVERAGE_PER_CONNECTION)
    ]

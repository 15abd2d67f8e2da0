"""Exchanges to send: the scripted ones (smoke) and generated ones (Hypothesis + schemathesis).

`scripted` reads the smoke profile's connections; `strategies` draws updates and connections;
`openapi` draws Schemathesis' cases; `probes` breaks one documented rule per update; `plan` is
what a connection sends; `corpus` draws a run's plans ahead and caches them (the only I/O here).
Generators only propose; every update is classified by the oracle when it is judged, so a
generator that makes a mistake costs coverage, never a false verdict.
"""

from conformance.generate.openapi import coverage_plans
from conformance.generate.plan import Plan, waits
from conformance.generate.probes import probe_plans, probes, value_updates
from conformance.generate.scripted import scripted_plans
from conformance.generate.strategies import (
    as_text,
    broken_session,
    event,
    from_schema,
    long_session,
    null_session,
    plans,
    unlisted_session,
    valid_session,
    wrong_values,
)

__all__ = [
    "Plan",
    "as_text",
    "broken_session",
    "coverage_plans",
    "event",
    "from_schema",
    "long_session",
    "null_session",
    "plans",
    "probe_plans",
    "probes",
    "scripted_plans",
    "unlisted_session",
    "valid_session",
    "value_updates",
    "waits",
    "wrong_values",
]

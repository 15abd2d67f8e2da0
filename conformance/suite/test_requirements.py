"""The conformance suite: one test per requirement of the catalogue, judged from one run."""

from __future__ import annotations

from conformance.cli.items import ItemReports
from conformance.cli.plugin import report_requirement


# `requirement_id` is parametrized by the plugin (cli/plugin.py pytest_generate_tests) with the run's
# dialect's catalogue: the IDs differ by dialect, so they cannot be fixed when this module is imported.
def test_requirement(conformance: ItemReports, requirement_id: str) -> None:
    report_requirement(conformance, requirement_id)

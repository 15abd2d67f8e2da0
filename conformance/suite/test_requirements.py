"""The conformance suite: one test per requirement of the catalogue, judged from one run."""

from __future__ import annotations

import pytest

from conformance.cli.items import ItemReports
from conformance.cli.plugin import PREFIX, report_requirement
from conformance.contract import load_contract


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One item per requirement of the dialect the run speaks (--rc-dialect): catalogues differ by dialect."""
    if "requirement_id" in metafunc.fixturenames:
        metafunc.parametrize("requirement_id", load_contract(None, metafunc.config.getoption(PREFIX + "dialect")).ids)


def test_requirement(conformance: ItemReports, requirement_id: str) -> None:
    report_requirement(conformance, requirement_id)

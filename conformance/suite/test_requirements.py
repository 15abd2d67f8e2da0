"""The conformance suite: one test per requirement of the catalogue, judged from one run."""

from __future__ import annotations

import pytest

from conformance.cli.items import ItemReports
from conformance.cli.plugin import report_requirement
from conformance.contract import load_contract

IDS = load_contract().ids


@pytest.mark.parametrize("requirement_id", IDS)
def test_requirement(conformance: ItemReports, requirement_id: str) -> None:
    report_requirement(conformance, requirement_id)

"""What each requirement's pytest item reports, decided once from the run's `Outcome`.

Plain data, so the controller of a pytest-xdist session can hand it to its workers whole: an item is
passed, failed (its text names the violations), xfailed (a baseline's expected failure) or skipped
(why); a target that could not be tested at all blocks every item (an error, never a skip).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from conformance.redact import Redactor, redactor
from conformance.run.engine import Outcome
from conformance.verdict.results import RequirementResult

SHOWN_VIOLATIONS = 10  # in a failed item's text; summary.json and the Allure results have them all


@dataclass(frozen=True)
class ItemReport:
    """What one requirement's pytest item reports: its outcome and the text a JUnit reader sees."""

    outcome: Literal["passed", "failed", "xfailed", "skipped"]
    message: str = ""


@dataclass(frozen=True)
class ItemReports:
    """Every item's report, decided once from the run; plain data, so pytest-xdist workers get it whole.

    `blocked` says why no item could be judged (an untestable target, a bug of ours): each item is then an error.
    """

    items: dict[str, ItemReport]
    blocked: str | None = None

    def to_json(self) -> str:
        return json.dumps({"blocked": self.blocked, "items": {k: asdict(v) for k, v in self.items.items()}})

    @classmethod
    def from_json(cls, text: str) -> ItemReports:
        data = json.loads(text)
        return cls({k: ItemReport(**v) for k, v in data["items"].items()}, data["blocked"])


def failure_text(result: RequirementResult, safe: Redactor) -> str:
    """A failed requirement as JUnit shows it: the requirement, then each violation (and what was sent)."""
    r = result.requirement
    lines = [f"[{r.level}] {r.id}: {r.title}"]
    lines += [
        f"- {v.message}" + (f"\n  sent: {v.sent.describe(safe)[:300]}" if v.sent else "")
        for v in result.violations[:SHOWN_VIOLATIONS]
    ]
    if not result.violations:
        lines.append(f"- {result.reason}")
    if result.violation_count > SHOWN_VIOLATIONS:
        lines.append(f"- … and {result.violation_count - SHOWN_VIOLATIONS} more (see summary.json)")
    return safe.text("\n".join(lines))


def item_reports(outcome: Outcome, secrets: Sequence[str]) -> ItemReports:
    """Each requirement's item: passed, failed (naming the violations), xfailed (a baseline's), or skipped (why)."""
    safe = redactor(secrets)  # everything below reaches JUnit
    if outcome.failure is not None:  # nothing could be tested: an error, never a skip a CI reads as green
        blocked = safe.text(f"not run: the target could not be tested: {outcome.failure.message}")
        return ItemReports({}, blocked)
    expected = set(outcome.baseline.expected) if outcome.baseline is not None else set()
    items: dict[str, ItemReport] = {}
    for result in outcome.results:
        rid = result.requirement.id
        if result.status == "failed" and rid in expected:
            assert outcome.baseline is not None
            first = result.violations[0].message if result.violations else result.reason
            items[rid] = ItemReport(
                "xfailed", safe.text(f"expected failure (baseline {outcome.baseline.file}): {first}")
            )
        elif result.status == "failed":
            items[rid] = ItemReport("failed", failure_text(result, safe))
        elif result.status == "skipped":
            items[rid] = ItemReport("skipped", safe.text(result.reason))
        else:
            items[rid] = ItemReport("passed")
    return ItemReports(items)

"""The closing table `run`, `validate` and `replay` print: each requirement's status and evidence."""

from __future__ import annotations

from collections.abc import Sequence

from conformance.checks import Violation
from conformance.redact import NO_SECRETS, Redactor
from conformance.verdict.results import RequirementResult


def print_results(
    results: Sequence[RequirementResult], safe: Redactor = NO_SECRETS, expected: frozenset[str] = frozenset()
) -> None:
    """The closing table: every requirement with its status (`expected` for a failure the baseline
    lists), how often it was exercised, and its first violations with the connection they are from."""
    width = max(len(r.requirement.id) for r in results)
    print(f"{'STATUS':<8} {'LEVEL':<6} {'ID':<{width}} {'EXERCISED':>9}  DETAIL")
    for result in sorted(results, key=lambda r: ("failed", "skipped", "passed").index(r.status)):
        r = result.requirement
        status = "expected" if result.status == "failed" and r.id in expected else result.status
        lines = [_violation_line(v, safe) for v in result.violations[:3]] or [safe.line(result.reason or r.title)]
        print(f"{status:<8} {r.level:<6} {r.id:<{width}} {result.exercised:>9}  {lines[0]}")
        for line in lines[1:]:
            print(f"{'':<{width + 28}}{line}")
        if result.violation_count > 3:
            print(f"{'':<{width + 28}}… and {result.violation_count - 3} more (summary.json)")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "skipped")}
    excused = sum(1 for r in results if r.status == "failed" and r.requirement.id in expected)
    tail = f" ({excused} of them expected)" if excused else ""
    print(f"{counts['passed']} passed, {counts['failed']} failed{tail}, {counts['skipped']} skipped")


def _violation_line(violation: Violation, safe: Redactor) -> str:
    where = f"[{violation.connection}] " if violation.connection else ""
    return safe.line(where + violation.message)[:120]

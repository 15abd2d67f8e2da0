"""From a judgement to per-requirement results and the verdict (pure; shared by run, validate, verify)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from conformance.checks import Judgement, Violation
from conformance.contract import Contract, Requirement

Status = Literal["passed", "failed", "skipped"]
Verdict = Literal["conformant", "non-conformant", "error"]

NOT_EXERCISED = "no exchange exercised it"
NOT_APPLICABLE = "not applicable: "  # how the reason of a requirement that does not apply begins
#: How the reason of a MUST begins that a certified run exercised too few times (`verdict.certify`).
UNCERTIFIED = "certification needs every MUST exercised at least "


@dataclass(frozen=True)
class RequirementResult:
    requirement: Requirement
    status: Status
    exercised: int
    violations: tuple[Violation, ...]
    reason: str = ""
    #: Violations beyond `violations` whose evidence was not kept (a run keeps a bounded number each).
    omitted: int = 0

    @property
    def violation_count(self) -> int:
        return len(self.violations) + self.omitted

    @property
    def not_applicable(self) -> bool:
        """Skipped because its condition never arose on this target (it omits an optional field)."""
        return self.status == "skipped" and self.reason.startswith(NOT_APPLICABLE)

    @property
    def short_of_certification(self) -> bool:
        """Skipped because a certified run exercised it too few times: the suite's shortfall, not the target's."""
        return self.status == "skipped" and self.reason.startswith(UNCERTIFIED)


def evaluate(
    contract: Contract,
    judgement: Judgement,
    selected: Iterable[str] | None = None,
    not_run: str | None = None,
    omitted: Mapping[str, int] | None = None,
) -> list[RequirementResult]:
    """One result per requirement: failed if violated, passed if exercised, else skipped with why.

    A requirement nothing exercised is never passed: a silent target must not look conformant.
    One whose condition never arose because the target omits an optional field is skipped as not
    applicable.
    """
    wanted = set(selected) if selected is not None else None
    by_id: dict[str, list[Violation]] = {}
    for violation in judgement.violations:
        by_id.setdefault(violation.requirement, []).append(violation)
    results = []
    for req in contract.requirements:
        if wanted is not None and req.id not in wanted:
            continue
        violations = tuple(by_id.get(req.id, ()))
        count = judgement.exercised.get(req.id, 0)
        if violations:
            more = omitted.get(req.id, 0) if omitted else 0
            results.append(RequirementResult(req, "failed", count, violations, omitted=more))
        elif count:
            results.append(RequirementResult(req, "passed", count, ()))
        elif req.id in judgement.not_applicable and not not_run:
            results.append(RequirementResult(req, "skipped", 0, (), NOT_APPLICABLE + judgement.not_applicable[req.id]))
        else:
            reason = f"not run: {not_run}" if not_run else NOT_EXERCISED
            results.append(RequirementResult(req, "skipped", 0, (), reason))
    return results


def verdict_of(
    results: Iterable[RequirementResult],
    strict: bool = False,
    excused: frozenset[str] = frozenset(),
    stale_baseline: bool = False,
) -> Verdict:
    """Non-conformant when a MUST failed (with `strict`, a SHOULD too) that the baseline does not
    excuse, or, with `stale_baseline`, when the baseline lists fixed or expired entries."""
    if stale_baseline:
        return "non-conformant"
    for result in results:
        failing = result.status == "failed" and result.requirement.id not in excused
        if failing and (result.requirement.level == "MUST" or strict):
            return "non-conformant"
    return "conformant"

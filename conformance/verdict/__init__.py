"""The verdict policy, once: from a judgement and a frozen `Policy` to results and the verdict (pure).

A run resolves its policy (strict, certification, the baseline as of the run's date, the selection)
before judging and writes it into summary.json verbatim; `verify` and `validate --policy` apply
exactly that value, so the three can never disagree about the same transcripts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from conformance.checks import ANSWERED, Judgement
from conformance.contract import SPEC_DIR, Contract, read_json
from conformance.verdict.baseline import BaselineReport, Expected
from conformance.verdict.results import UNCERTIFIED, RequirementResult, Verdict, evaluate, verdict_of


@dataclass(frozen=True)
class Policy:
    """How results become a verdict; everything here is data, resolved before judging.

    `expected_failures` and `expired` are the baseline as of the run's date (None: no baseline),
    so a bundle verified next year is judged by the policy it was certified under.
    """

    strict: bool = False
    certification: bool = False  # every MUST exercised at least `min_exercised` times
    min_exercised: int = 3
    selected: tuple[str, ...] | None = None  # report only these requirements
    expected_failures: tuple[str, ...] | None = None  # baseline entries that still excuse a failure
    expired: tuple[str, ...] = ()  # baseline entries past their expiry: they excuse nothing
    strict_baseline: bool = False  # a fixed or expired baseline entry fails the run
    baseline_file: str = ""

    @classmethod
    def resolve(
        cls,
        *,
        strict: bool,
        certification: bool,
        min_exercised: int,
        selected: Iterable[str] | None,
        baseline: Iterable[Expected] | None,
        baseline_file: str,
        strict_baseline: bool,
        today: dt.date,
    ) -> Policy:
        """The policy of a run started `today` (the only day a baseline's expiry is read)."""
        entries = list(baseline) if baseline is not None else None
        return cls(
            strict=strict,
            certification=certification,
            min_exercised=min_exercised,
            selected=tuple(selected) if selected is not None else None,
            expected_failures=None if entries is None else tuple(sorted(e.id for e in entries if not e.expired(today))),
            expired=() if entries is None else tuple(sorted(e.id for e in entries if e.expired(today))),
            strict_baseline=strict_baseline,
            baseline_file=baseline_file,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "strict": self.strict,
            "certification": self.certification,
            "min_exercised": self.min_exercised,
            "selected": list(self.selected) if self.selected is not None else None,
            "expected_failures": list(self.expected_failures) if self.expected_failures is not None else None,
            "expired": list(self.expired),
            "strict_baseline": self.strict_baseline,
            "baseline_file": self.baseline_file,
        }

    def unknown_to(self, contract: Contract) -> str | None:
        """Where this (recorded) policy names requirements the contract does not have, in one line; or None."""
        unknown = sorted(set(self.selected or ()) - set(contract.ids))
        return (
            f"at selected: {', '.join(unknown[:3])[:120]} not in the {contract.dialect} catalogue" if unknown else None
        )

    @classmethod
    def from_json(cls, doc: Any) -> Policy:
        """The policy `to_json` wrote; PolicyError names the first place of another shape."""
        problem = first_error("policy", doc)
        if problem is not None:
            raise PolicyError(problem)
        selected, expected = doc["selected"], doc["expected_failures"]
        return cls(
            strict=doc["strict"],
            certification=doc["certification"],
            min_exercised=doc["min_exercised"],
            selected=tuple(selected) if selected is not None else None,
            expected_failures=tuple(expected) if expected is not None else None,
            expired=tuple(doc["expired"]),
            strict_baseline=doc["strict_baseline"],
            baseline_file=doc["baseline_file"],
        )


#: summary.json's `error.kind` for a certified run whose evidence was too thin (`shortfall`).
UNCERTIFIED_KIND = "uncertified"


class PolicyError(ValueError):
    """A recorded policy of the wrong shape; the message is one line."""


def first_error(part: str, doc: Any) -> str | None:
    """Where `doc` is not of the shape of summary.json's `part` (its schema: the run writes it so), in one
    line naming the first place; None where it is."""
    error = next(iter(_summary_part(part).iter_errors(doc)), None)
    if error is None:
        return None
    at = "/".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {at}: {error.message[:120]}".replace("\n", " ")


@cache
def _summary_part(part: str) -> Draft202012Validator:
    return Draft202012Validator(read_json(SPEC_DIR / "summary.schema.json")["properties"][part])


@dataclass(frozen=True)
class Decision:
    results: tuple[RequirementResult, ...]
    verdict: Verdict
    baseline: BaselineReport | None


def certify(results: Iterable[RequirementResult], minimum: int) -> list[RequirementResult]:
    """In a certified run every MUST must be exercised `minimum` times: one exercised fewer is skipped,
    with why, and the run is not certified (`shortfall`: verdict `error`, exit 3), never non-conformant.
    Too little evidence is the suite's shortfall (too few connections, a session type on which few
    updates are valid), not the target's fault: a target's own fault fails its own requirement.

    A MUST that does not apply to this target (its condition never arose because the target
    legitimately omits an optional field) stays skipped, with why.
    """
    out = []
    for result in results:
        thin = result.status == "passed" and result.exercised < minimum
        unexercised = result.status == "skipped" and not result.not_applicable
        if result.requirement.level == "MUST" and (unexercised or thin):
            why = result.reason if result.status == "skipped" else f"exercised {result.exercised} times"
            reason = f"{UNCERTIFIED}{minimum} times; {why}"
            out.append(RequirementResult(result.requirement, "skipped", result.exercised, (), reason))
        else:
            out.append(result)
    return out


def shortfall(results: Iterable[RequirementResult], minimum: int) -> str | None:
    """Why a certified run's evidence is too thin to certify its target (one line), or None."""
    short = [r for r in results if r.short_of_certification]
    if not short:
        return None
    named = ", ".join(f"{r.requirement.id} ({r.exercised})" for r in short[:5])
    more = f" and {len(short) - 5} more" if len(short) > 5 else ""
    # More connections add evidence where some came; where none did, this target never gave the
    # occasion (no session.created, say), and more of the same connections would not either.
    advice = []
    if any(r.exercised for r in short):
        advice.append("run more --connections (or give a lower --min-exercised)")
    if not all(r.exercised for r in short):
        advice.append("those at 0 never had occasion on this target, which more connections would not change")
    return (
        f"not certified: {len(short)} MUST requirement(s) were exercised fewer than {minimum} times, "
        f"{named}{more}; {'; '.join(advice)}"
    )


def baseline_report(results: Iterable[RequirementResult], policy: Policy) -> BaselineReport | None:
    """Which failures the baseline excuses, which listed ones pass now (fixed), which expired."""
    if policy.expected_failures is None:
        return None
    listed = set(policy.expected_failures) | set(policy.expired)
    failed = {r.requirement.id for r in results if r.status == "failed"}
    passed = {r.requirement.id for r in results if r.status == "passed"}
    expected = tuple(sorted(failed & set(policy.expected_failures)))
    return BaselineReport(
        file=policy.baseline_file,
        expected=expected,
        unexpected=tuple(sorted(failed - set(expected))),
        fixed=tuple(sorted(passed & listed)),
        expired=policy.expired,
    )


def decide(
    contract: Contract,
    judgement: Judgement,
    policy: Policy,
    not_run: str | None = None,
    omitted: Mapping[str, int] | None = None,
) -> Decision:
    """Results and verdict of `judgement` under `policy`; `not_run` says why the run was incomplete.

    An incomplete run is not certified (what it did not reach is skipped as not run), and it is
    never conformant: its verdict is then `error`.
    """
    results = evaluate(contract, judgement, policy.selected, not_run=not_run, omitted=omitted)
    if policy.certification and not_run is None:
        results = certify(results, policy.min_exercised)
    baseline = baseline_report(results, policy)
    excused = frozenset(baseline.expected) if baseline is not None else frozenset()
    stale = baseline is not None and policy.strict_baseline and bool(baseline.fixed or baseline.expired)
    verdict = verdict_of(results, policy.strict, excused, stale)
    if verdict == "conformant" and (not_run is not None or any(r.short_of_certification for r in results)):
        verdict = "error"  # what could not be tested (enough) is never called conformant
    return Decision(tuple(results), verdict, baseline)


def nothing_judged(judgement: Judgement) -> str | None:
    """Why no exchange of `judgement` tested the target, or None: a run (or a transcript) where no update
    was sent, or none answered nor waited out, shows nothing a verdict could rest on, and is never conformant."""
    if not judgement.exchanges:
        return "no update could be sent to the target"
    if not any(judgement.exercised[requirement] for requirement in ANSWERED):
        # a target that closed every connection at once, say, while its sockets stayed open: the updates
        # were written, but none was answered or waited out, so none could be judged
        return "no update sent could be judged (none was answered, nor waited out on an open connection)"
    return None


def not_run_of(summary: dict[str, Any]) -> str | None:
    """Why the recorded run was incomplete (its `error`), or None: judging needs it as the run had it.
    PolicyError where the summary's `error` is not of the shape a run writes."""
    error = summary.get("error")
    problem = None if error is None else first_error("error", error)
    if problem is not None:
        raise PolicyError(f"(its error) {problem}")
    if not error or error.get("kind") == UNCERTIFIED_KIND:  # that one the policy derives again
        return None
    return str(error.get("message") or error.get("kind") or "incomplete")

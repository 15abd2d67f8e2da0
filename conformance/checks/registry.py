"""The one check registry (the Schemathesis model): each check declares its requirement, what it
needs and what it supersedes; it returns findings; the registry stamps the requirement ID on them,
counts exercise and applies precedence. Nothing here knows what any single check judges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from conformance.checks.findings import Violation
from conformance.transcript import Frame

if TYPE_CHECKING:
    from conformance.checks.connection import Connection, Step

Kind = Literal["valid", "invalid", "undetermined"]
KINDS: frozenset[Kind] = frozenset({"valid", "invalid", "undetermined"})


@dataclass(frozen=True)
class Flaw:
    """What a check found wrong; the registry turns it into a `Violation` of the check's requirement."""

    path: str
    message: str
    received: Frame | None = None
    sent: Frame | None = None
    label: str = ""  # the kind of flaw, for the check's `explained_by`


@dataclass(frozen=True)
class Finding:
    """One case a check judged (one exercise), with what it found wrong there (nothing: it held).
    `label` names the kind of finding, for the checks that supersede it (`Check.supersedes`)."""

    flaws: tuple[Flaw, ...] = ()
    label: str = ""
    step: Step | None = None


#: A case judged that held: it carries nothing, so every check returns this one value (a dozen a step).
HELD = Finding()


@dataclass(frozen=True)
class Needs:
    """A step check's preconditions, as data: which steps it judges at all."""

    event: str = "session.update"  # the client event the step sent
    kinds: frozenset[Kind] = KINDS  # the oracle's classifications of it
    certain: bool = False  # only steps whose answers are paired for certain
    after_error: bool | None = None  # only steps right after a rejected update (True), only others (False)

    def admits(self, step: Step) -> bool:
        return self.admits_as(_shape(step))

    def admits_as(self, shape: tuple[str, Kind, bool, bool]) -> bool:
        """Whether it admits a step of this shape (`_shape`: event, kind, certain, after an error)."""
        event, kind, certain, after_error = shape
        if event != self.event or kind not in self.kinds or (self.certain and not certain):
            return False
        return self.after_error is None or self.after_error == after_error


def _shape(step: Step) -> tuple[str, Kind, bool, bool]:
    """All that a check's preconditions (`Needs`) ask of a step."""
    return step.event, step.classification.kind, step.certain, step.since_error is not None


class StepCheck(Protocol):
    def __call__(self, step: Step, conn: Connection, /) -> Finding | None: ...


ConnectionCheck = Callable[["Connection"], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """One registered check of one requirement."""

    requirement: str
    judge_step: StepCheck | None = None
    judge_connection: ConnectionCheck | None = None
    needs: Needs = Needs()
    #: (requirement, label): findings of that requirement with that label are dropped, neither
    #: counted nor reported, on every step this check judged there (one defect, one violation).
    supersedes: tuple[tuple[str, str], ...] = ()
    #: (flaw label, requirement): a flaw with that label is the same misbehaviour a narrower
    #: requirement names; it is reported under that one instead when that one fails in the run too.
    explained_by: tuple[tuple[str, str], ...] = ()
    #: Why the requirement's condition never arose on a connection, when a server may legitimately
    #: never give rise to it (by omitting an optional field); None when it did or may.
    not_applicable: Callable[[Connection], str | None] | None = None


CHECKS: dict[str, Check] = {}


def step_check(
    requirement: str,
    needs: Needs = Needs(),
    supersedes: tuple[tuple[str, str], ...] = (),
    not_applicable: Callable[[Connection], str | None] | None = None,
    explained_by: tuple[tuple[str, str], ...] = (),
) -> Callable[[StepCheck], StepCheck]:
    """Register a check judging one step at a time, on the steps its `needs` admit."""

    def register(func: StepCheck) -> StepCheck:
        _add(
            Check(
                requirement,
                judge_step=func,
                needs=needs,
                supersedes=supersedes,
                explained_by=explained_by,
                not_applicable=not_applicable,
            )
        )
        return func

    return register


def connection_check(
    requirement: str, not_applicable: Callable[[Connection], str | None] | None = None
) -> Callable[[ConnectionCheck], ConnectionCheck]:
    """Register a check judging a whole connection (its findings are not tied to one step)."""

    def register(func: ConnectionCheck) -> ConnectionCheck:
        _add(Check(requirement, judge_connection=func, not_applicable=not_applicable))
        return func

    return register


def _add(check: Check) -> None:
    if check.requirement in CHECKS:
        raise ValueError(f"two checks registered for {check.requirement}")
    CHECKS[check.requirement] = check


@dataclass(frozen=True)
class Judged:
    """What the registered checks found on one connection."""

    violations: tuple[Violation, ...]
    exercised: Counter[str]
    not_applicable: dict[str, str]


def run_checks(conn: Connection, checks: Iterable[Check] | None = None) -> Judged:
    """Run every check; drop superseded findings; stamp IDs; count exercise (one per finding)."""
    checks = list(CHECKS.values() if checks is None else checks)
    superseding = {check.requirement for check in checks if check.supersedes}
    silenceable = {requirement for check in checks for requirement, _ in check.supersedes}
    # A dozen findings a step, nearly all of which held: such a finding of a requirement nothing supersedes
    # is only counted; the rest are kept, in order, as (check, finding, id of the step it judged).
    found: list[tuple[Check, Finding, int | None]] = []
    judged: dict[str, set[int]] = {}  # the steps each superseding check judged
    counted = {check.requirement: 0 for check in checks}  # findings that held, not kept
    steps, shapes = conn.steps, [_shape(step) for step in conn.steps]  # asked once, not once per check
    for check in checks:
        requirement, held = check.requirement, 0
        kept = requirement in silenceable
        on = judged.setdefault(requirement, set()) if requirement in superseding else None
        if check.judge_connection is not None:
            for f in check.judge_connection(conn):
                if on is not None and f.step is not None:
                    on.add(id(f.step))
                if kept or f.flaws:
                    found.append((check, f, None if f.step is None else id(f.step)))
                else:
                    held += 1
        if check.judge_step is not None:
            admitted = {shape: check.needs.admits_as(shape) for shape in set(shapes)}
            judge_step = check.judge_step
            for step, shape in zip(steps, shapes, strict=True):
                if admitted[shape] and (finding := judge_step(step, conn)) is not None:
                    if on is not None:
                        on.add(id(step))
                    if kept or finding.flaws:
                        found.append((check, finding, id(step)))
                    else:
                        held += 1
        counted[requirement] += held
    silenced = {
        (requirement, label, step)
        for check in checks
        for requirement, label in check.supersedes
        for step in judged.get(check.requirement, ())
    }
    exercised: Counter[str] = Counter(counted)
    violations: list[Violation] = []
    for check, finding, step_id in found:
        if step_id is not None and silenced and (check.requirement, finding.label, step_id) in silenced:
            continue
        exercised[check.requirement] += 1
        if finding.flaws:
            explained = dict(check.explained_by)
            violations += (
                Violation(
                    check.requirement, f.path, f.message, f.received, f.sent, explained_by=explained.get(f.label, "")
                )
                for f in finding.flaws
            )
    not_applicable = {
        check.requirement: why
        for check in checks
        if check.not_applicable is not None
        and not exercised[check.requirement]
        and (why := check.not_applicable(conn)) is not None
    }
    return Judged(tuple(violations), +exercised, not_applicable)

"""What judging produces: violations, each naming a requirement, and the frozen judgement of a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.transcript import Frame, json_text


@dataclass(frozen=True)
class Violation:
    """One broken requirement, with the frame it was found in and the client frame it answers."""

    requirement: str
    path: str
    message: str
    received: Frame | None = None
    sent: Frame | None = None
    connection: str = ""  # the label of the transcript it was found in
    #: A requirement whose violation elsewhere in the run explains this one as well; it is then
    #: reported under that one (one defect, one violation).
    explained_by: str = ""


@dataclass(frozen=True)
class Judgement:
    """What judging produced: violations, and how often each requirement was exercised. Built
    once (`judge`, `combined`, `Tally.judgement`), never changed."""

    violations: tuple[Violation, ...] = ()
    exercised: Mapping[str, int] = field(default_factory=Counter)
    exchanges: int = 0
    #: Why a requirement's condition never arose (a server may omit an optional field), by ID.
    not_applicable: Mapping[str, str] = field(default_factory=dict)
    #: Exchanges whose answers could not be told apart from another update's (an extra or late
    #: answer in reach): the checks that pair an answer with its update did not judge them.
    unpaired: int = 0

    def __post_init__(self) -> None:
        # Copies, so that no caller's list or counter can change the judgement afterwards; a
        # Counter answers 0 for a requirement never exercised.
        object.__setattr__(self, "violations", tuple(self.violations))
        object.__setattr__(self, "exercised", Counter(self.exercised))
        object.__setattr__(self, "not_applicable", dict(self.not_applicable))

    @classmethod
    def combined(cls, judgements: Iterable[Judgement]) -> Judgement:
        """Several connections' judgements as one; the first reason a requirement did not apply wins."""
        violations: list[Violation] = []
        exercised: Counter[str] = Counter()
        not_applicable: dict[str, str] = {}
        exchanges = unpaired = 0
        for judgement in judgements:
            violations += judgement.violations
            exercised.update(judgement.exercised)
            exchanges += judgement.exchanges
            unpaired += judgement.unpaired
            for requirement, why in judgement.not_applicable.items():
                not_applicable.setdefault(requirement, why)
        return cls(tuple(violations), exercised, exchanges, not_applicable, unpaired)

    def explained(self) -> Judgement:
        """A violation another one explains is reported under that one, when that one is reported."""
        shown = {v.requirement for v in self.violations if not v.explained_by}
        violations = tuple(
            replace(v, requirement=by, explained_by="") if (by := explainer(v.explained_by, shown)) else v
            for v in self.violations
        )
        return replace(self, violations=violations)


def explainer(explained_by: str, shown: Container[str]) -> str | None:
    """The requirement a violation is reported under instead of its own: `explained_by`, when that one is
    reported in its own right (the one place the three judgements of it ask)."""
    return explained_by if explained_by and explained_by in shown else None


def describe_value(value: Any, limit: int = 60) -> str:
    text = json_text(value)  # json.dumps, but integers beyond Python's str() limit do not crash it
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__

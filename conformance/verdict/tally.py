"""A run's judgement accumulated connection by connection, in memory bounded by the catalogue.

A run may be as long as a certifier wants, so nothing here grows with it: per requirement it
keeps how often it was exercised, how many violations it had, the evidence of the first
`EVIDENCE_PER_REQUIREMENT` of them (first in plan order, so the result does not depend on which
connection finished first or on which worker), and the labels of the first failing connections
(what shrinking replays). `judgement()` then gives what `checks.judge_all` gives over the same
transcripts, with the evidence bounded and the rest counted in `omitted()`.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.checks import Judgement, Violation, explainer
from conformance.transcript import Frame, frame_from_json

#: Violations of one requirement whose evidence is kept; the others are counted (summary.json says how many).
EVIDENCE_PER_REQUIREMENT = 20
#: Failing connections remembered per requirement, for shrinking to replay.
FAILING_PER_REQUIREMENT = 64

Bucket = tuple[str, str]  # (requirement, explained_by)


@dataclass
class Tally:
    exercised: Counter[str] = field(default_factory=Counter)
    exchanges: int = 0
    connections: int = 0
    #: Exchanges the pairing checks could not judge (`Judgement.unpaired`), summed.
    unpaired: int = 0
    #: requirement -> (plan index, why its condition never arose); the earliest connection's reason wins.
    not_applicable: dict[str, tuple[int, str]] = field(default_factory=dict)
    counts: Counter[Bucket] = field(default_factory=Counter)
    #: bucket -> a max-heap (negated keys) of the smallest (plan index, position) violations.
    kept: dict[Bucket, list[tuple[int, int, Violation]]] = field(default_factory=dict)
    #: raw requirement -> a max-heap of the smallest (plan index, label) of the connections failing it.
    failing: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def add(self, index: int, judgement: Judgement) -> None:
        """Count one connection's judgement (`checks.judge` of plan number `index`)."""
        self.connections += 1
        self.exercised.update(judgement.exercised)
        self.exchanges += judgement.exchanges
        self.unpaired += judgement.unpaired
        for requirement, why in judgement.not_applicable.items():
            self._not_applicable(requirement, index, why)
        labels: dict[str, str] = {}
        for position, violation in enumerate(judgement.violations):
            self._keep((violation.requirement, violation.explained_by), index, position, violation)
            labels.setdefault(violation.requirement, violation.connection)
        for requirement, label in labels.items():
            _push(self.failing.setdefault(requirement, []), (-index, label), FAILING_PER_REQUIREMENT)

    def _not_applicable(self, requirement: str, index: int, why: str) -> None:
        if requirement not in self.not_applicable or index < self.not_applicable[requirement][0]:
            self.not_applicable[requirement] = (index, why)

    def _keep(self, bucket: Bucket, index: int, position: int, violation: Violation) -> None:
        self.counts[bucket] += 1
        _push(self.kept.setdefault(bucket, []), (-index, -position, violation), EVIDENCE_PER_REQUIREMENT)

    def merge(self, other: Tally) -> None:
        """Add another shard's tally (plan indices are the run's, so the order is kept)."""
        self.connections += other.connections
        self.exercised.update(other.exercised)
        self.exchanges += other.exchanges
        self.unpaired += other.unpaired
        for requirement, (index, why) in other.not_applicable.items():
            self._not_applicable(requirement, index, why)
        self.counts.update(other.counts)
        for bucket, heap in other.kept.items():
            for item in heap:
                _push(self.kept.setdefault(bucket, []), item, EVIDENCE_PER_REQUIREMENT)
        for requirement, labels in other.failing.items():
            for entry in labels:
                _push(self.failing.setdefault(requirement, []), entry, FAILING_PER_REQUIREMENT)

    def _shown(self) -> set[str]:
        return {requirement for (requirement, explained_by), n in self.counts.items() if n and not explained_by}

    def _final(self) -> dict[str, list[tuple[int, int, Violation]]]:
        """Each reported requirement's kept violations, (index, position)-ordered, re-attributed as
        `judge_all` does: one explained by a requirement violated in its own right goes under that one."""
        shown = self._shown()
        out: dict[str, list[tuple[int, int, Violation]]] = {}
        for (_requirement, explained_by), heap in self.kept.items():
            by = explainer(explained_by, shown)
            for index, position, violation in heap:
                if by is not None:
                    violation = replace(violation, requirement=by, explained_by="")
                out.setdefault(violation.requirement, []).append((-index, -position, violation))
        return {r: sorted(items, key=lambda i: (i[0], i[1]))[:EVIDENCE_PER_REQUIREMENT] for r, items in out.items()}

    def judgement(self) -> Judgement:
        """The run's judgement, as `judge_all` would give it, with at most the bounded evidence per requirement."""
        final = self._final()
        ordered = sorted((item for items in final.values() for item in items), key=lambda i: (i[0], i[1]))
        return Judgement(
            violations=tuple(v for _, _, v in ordered),
            exercised=Counter(self.exercised),
            exchanges=self.exchanges,
            not_applicable={r: why for r, (_, why) in sorted(self.not_applicable.items(), key=lambda i: i[1][0])},
            unpaired=self.unpaired,
        )

    def totals(self) -> Counter[str]:
        """How many violations each reported requirement had in all (kept or not)."""
        shown = self._shown()
        out: Counter[str] = Counter()
        for (requirement, explained_by), n in self.counts.items():
            out[explainer(explained_by, shown) or requirement] += n
        return out

    def omitted(self) -> dict[str, int]:
        """Violations counted but whose evidence was not kept, by requirement."""
        kept = Counter(v.requirement for v in self.judgement().violations)
        return {r: n - kept[r] for r, n in self.totals().items() if n > kept[r]}

    def evidence_index(self) -> dict[str, int]:
        """The plan index of each connection whose violations are kept as evidence."""
        return {v.connection: index for items in self._final().values() for index, _, v in items}

    def failing_labels(self, requirement: str) -> set[str]:
        """The (first, bounded) connections whose own judgement violated `requirement`."""
        return {label for _, label in self.failing.get(requirement, [])}

    # ------------------------------------------------------------------ to and from a worker

    def to_json(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "exercised": dict(self.exercised),
            "exchanges": self.exchanges,
            "unpaired": self.unpaired,
            "not_applicable": {r: list(v) for r, v in self.not_applicable.items()},
            "counts": [[r, e, n] for (r, e), n in self.counts.items()],
            "kept": [[-i, -p, _violation_json(v)] for heap in self.kept.values() for i, p, v in heap],
            "failing": [[r, -i, label] for r, heap in self.failing.items() for i, label in heap],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        tally = cls(Counter(data["exercised"]), data["exchanges"], data["connections"], int(data.get("unpaired", 0)))
        tally.not_applicable = {r: (int(i), str(why)) for r, (i, why) in data["not_applicable"].items()}
        tally.counts = Counter({(r, e): n for r, e, n in data["counts"]})
        for index, position, obj in data["kept"]:
            v = _violation_from_json(obj)
            _push(tally.kept.setdefault((v.requirement, v.explained_by), []), (-index, -position, v), 1 << 30)
        for requirement, index, label in data["failing"]:
            _push(tally.failing.setdefault(requirement, []), (-index, label), 1 << 30)
        return tally


def _push(heap: list[Any], item: Any, bound: int) -> None:
    """Keep the `bound` entries with the largest (negated: smallest) keys."""
    if len(heap) < bound:
        heapq.heappush(heap, item)
    elif item[:2] > heap[0][:2]:
        heapq.heapreplace(heap, item)


def _violation_json(v: Violation) -> dict[str, Any]:
    return {
        "requirement": v.requirement,
        "path": v.path,
        "message": v.message,
        "received": v.received.to_json() if v.received else None,
        "sent": v.sent.to_json() if v.sent else None,
        "connection": v.connection,
        "explained_by": v.explained_by,
    }


def _frame(obj: Any) -> Frame | None:
    if obj is None:
        return None
    return frame_from_json(obj, "a worker's violation")


def _violation_from_json(obj: dict[str, Any]) -> Violation:
    return Violation(
        obj["requirement"],
        obj["path"],
        obj["message"],
        _frame(obj["received"]),
        _frame(obj["sent"]),
        obj["connection"],
        obj["explained_by"],
    )

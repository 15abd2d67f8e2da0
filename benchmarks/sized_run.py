"""One run of a given size for the memory benchmark; prints one JSON line with its peak RSS.

    python benchmarks/sized_run.py EXCHANGES REPORT_DIR

The full profile's corpus (seed 1, 40 drawn connections) is replayed until the run has about
EXCHANGES exchanges, each replay a new connection with its own label and its own copies of the
update texts (so the plans take the memory a drawn corpus of that size would), against the
embedded mock, through the engine as `run` drives it (judged, written, summarised). Drawing
160,000 exchanges anew would take minutes of Hypothesis on its own and measure nothing more.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from conformance import engine
from conformance.engine import Settings
from conformance.report import write_summary
from conformance.runner import Plan


def resident_mib() -> float:
    """The process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1 << 20)


def main() -> None:
    exchanges, report_dir = int(sys.argv[1]), Path(sys.argv[2])
    settings = Settings(
        target="mock",
        profile="full",
        seed=1,
        connections=40,
        timeout_s=0.5,
        concurrency=16,
        shrink_budget_s=0,
        max_run_bytes=1 << 40,  # the default bound (64 MiB) would stop a run of this size: what is measured is memory
    )
    base = engine.plans_for(settings, 1)

    plans_mib = [0.0]

    def sized(settings: Settings, seed: int) -> list[Plan]:
        before = resident_mib()
        plans: list[Plan] = []
        count = replay = 0
        while count < exchanges:
            for plan in base:
                copies = tuple(text.encode().decode() for text in plan.updates)  # distinct objects, as drawn
                plans.append(Plan(f"{plan.label}~{replay}", copies))
                count += len(copies)
                if count >= exchanges:
                    break
            replay += 1
        plans_mib[0] = resident_mib() - before
        return plans

    engine.plans_for = sized  # type: ignore[assignment]  # the engine plans through this name
    started = time.perf_counter()
    outcome = engine.run(settings, directory=report_dir / "transcripts")
    write_summary(outcome, report_dir)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "exchanges": outcome.judgement.exchanges,
                "verdict": outcome.verdict,
                "wall_s": round(time.perf_counter() - started, 3),
                "peak_mib": round(peak_kib / 1024, 1),
                "plans_mib": round(plans_mib[0], 1),  # what the planned corpus itself takes, held for the run
            }
        )
    )


if __name__ == "__main__":
    main()

"""One run of a given size for the memory benchmark; prints one JSON line with its peak RSS.

    python benchmarks/sized_run.py EXCHANGES REPORT_DIR

The full profile's corpus (seed 1, 40 drawn connections) is drawn, then its drawn connections are
replayed into a corpus file of the size that gives about EXCHANGES exchanges, stored where the
run looks for the corpus of that many connections (a private cache folder in REPORT_DIR), in a forked
child as `run` draws its corpus in one. The run
then goes through the engine exactly as `run` drives it (plans read from that file as they run,
judged, written, summarised) against the embedded mock. Drawing 160,000 exchanges anew would take
minutes of Hypothesis on its own and measure nothing more.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from conformance.generate import probe_plans, scripted_plans
from conformance.generate.corpus import corpus_key, generated_plans
from conformance.reports.summary import write_summary
from conformance.run import engine
from conformance.run.settings import Settings

BASE_CONNECTIONS = 40


def sized_corpus(exchanges: int) -> int:
    """Write a corpus file of about `exchanges` exchanges (the base corpus' draws replayed); its connections."""
    base = generated_plans(1, BASE_CONNECTIONS)
    lines = base.path.read_text(encoding="utf-8").splitlines()
    coverage, drawn = lines[1 : 1 + base.coverage], lines[1 + base.coverage :]
    fixed = sum(len(p.updates) for p in (*scripted_plans(), *probe_plans())) + sum(len(json.loads(c)) for c in coverage)
    replayed: list[str] = []
    count = fixed
    while count < exchanges:
        line = drawn[len(replayed) % len(drawn)]
        replayed.append(line)
        count += len(json.loads(line))
    path = base.path.with_name(f"{corpus_key(1, len(replayed))}.jsonl")
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"coverage": len(coverage), "drawn": len(replayed)}) + "\n")
        out.writelines(line + "\n" for line in (*coverage, *replayed))
    generated_plans.cache_clear()
    return len(replayed)


def prepared(exchanges: int) -> int:
    """`sized_corpus` in a forked child, as `run` draws its corpus in one: what drawing holds is not the run's."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: prepare, report, leave without running the parent's exit handlers
        code = 1
        try:
            os.write(write, str(sized_corpus(exchanges)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as answer:
        connections = answer.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not connections:
        raise SystemExit("preparing the sized corpus failed")
    return int(connections)


def resident_mib() -> float:
    """The process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1 << 20)


def main() -> None:
    exchanges, report_dir = int(sys.argv[1]), Path(sys.argv[2])
    os.environ["REALTIME_CONFORMANCE_CACHE"] = str(report_dir / "corpus")
    before = resident_mib()
    connections = prepared(exchanges)
    settings = Settings(
        target="mock",
        profile="full",
        seed=1,
        connections=connections,
        timeout_s=0.5,
        concurrency=16,
        shrink_budget_s=0,
        max_run_bytes=1 << 40,  # the default bound (64 MiB) would stop a run of this size: what is measured is memory
    )
    plans_mib = resident_mib() - before  # writing the corpus file: nothing of it should stay held
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
                "plans_mib": round(plans_mib, 1),  # resident growth from planning the corpus (it is read lazily)
            }
        )
    )


if __name__ == "__main__":
    main()

"""Instructions an exchange of the one-connection path costs, counted by valgrind (not timed).

    python benchmarks/instructions.py [--mode suite|runner|bare] [--updates N]

On a shared machine the one-connection figures of `run.py` move by a fifth from run to run, more than
most changes to the exchange path do. User-space instructions do not: this runs the like-for-like
replay of `run.py` (the same corpus, against the same least server, in its own process) once under
callgrind, counting only the measured replay, and prints instructions per exchange. The modes:
`suite` (send, receive, record, judge ahead, judge the transcript), `runner` (without judging the
transcript) and `bare` (plain websockets round trips). Kernel time (the socket calls) is not counted,
the scheduled young collections are off and judging ahead's budget a take is widened (both go by the clock,
which valgrind slows about fiftyfold).
Needs valgrind (`apt install valgrind`); about a minute a mode.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import run  # benchmarks/run.py, beside this file (the script's folder is on the path)

from conformance import collector
from conformance.checks import ahead

#: About how much slower a program runs under callgrind: the clock-bound budgets are widened as much.
SLOWDOWN = 50
#: Set in the measured child: the file of updates it replays.
MEASURED = "RC_INSTRUCTIONS_CORPUS"


def measured(mode: str, corpus: Path) -> None:
    """Under callgrind: warm up, then count one replay of the corpus (instrumentation on around it alone)."""

    async def no_collections(*_: object) -> None:
        return None

    collector.freeze()
    collector._collect_every = no_collections  # type: ignore[assignment]
    # a take of judging ahead is bounded by the clock too: as much work fits in it as natively
    ahead.Ahead.take.__defaults__ = (ahead.BUDGET_S * SLOWDOWN,)
    updates = json.loads(corpus.read_text(encoding="utf-8"))

    def instrumenting(on: bool) -> None:
        command = ["callgrind_control", "--instr=" + ("on" if on else "off"), str(os.getpid())]
        subprocess.run(command, check=True, capture_output=True)

    with run.equivalent_server() as url:
        run.suite_rps_on(url, updates[:300], 1)
        instrumenting(True)
        if mode == "bare":
            run.bare_rps_on(url, updates, 1)
        else:
            run.suite_rps_on(url, updates, 1, judging=mode == "suite")
        instrumenting(False)


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--mode", choices=("suite", "runner", "bare"), default="suite", help="what is replayed")
    options.add_argument("--updates", type=int, default=3000, help="updates replayed on the one connection")
    given = options.parse_args()
    if given.updates < 1:
        options.error("--updates must be at least 1")
    if os.environ.get(MEASURED):
        measured(given.mode, Path(os.environ[MEASURED]))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("instructions.py: valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "updates.json"  # drawn here: Hypothesis under valgrind would take minutes
        corpus.write_text(json.dumps(run.valid_updates(given.updates)), encoding="utf-8")
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={work}/callgrind.out",
            sys.executable,
            __file__,
            "--mode",
            given.mode,
        ]
        done = subprocess.run(command, env={**os.environ, MEASURED: str(corpus)}, capture_output=True, text=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or collected is None:
        said = [line for line in done.stderr.splitlines() if not line.startswith("==")]  # not valgrind's own lines
        print(f"instructions.py: the measured run failed: {said[-1] if said else done.returncode}", file=sys.stderr)
        return 1
    print(f"{given.mode}: {int(collected[1]) / given.updates:,.0f} instructions an exchange ({given.updates} updates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

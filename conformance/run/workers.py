"""A run through pytest: `pytest.main` with only our plugins, and a run spread over pytest-xdist workers.

The controller's side of `distribute`: it starts the shards' pytest session with `-n N`, collects each
worker's record and merges them into one `Outcome`, judged as a serial run is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance import progress, signals
from conformance.redact import public_url
from conformance.run.distribute import ShardCollector, ShardSpec
from conformance.run.engine import finish, new_seed
from conformance.run.outcome import Outcome
from conformance.run.settings import Settings

SHARDS_DIR = Path(__file__).resolve().parents[1] / "shards"
#: The pytest plugins a run needs; nothing else installed is loaded (each costs start-up time, and a
#: stranger plugin could change how the suite behaves). Named, not imported: pytest imports the plugin
#: itself, to rewrite its asserts. The Allure results are written from the outcome (`reports.allure`),
#: not by allure-pytest.
RUN_PLUGINS = ("conformance.cli.plugin",)


class WorkersRefused(Exception):
    """pytest-xdist refused the options given for it (its own message is already printed)."""


def run_pytest(args: Sequence[str], plugins: Sequence[object]) -> int:
    """pytest.main with only our plugins (and xdist's workers get the same environment)."""
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        preload = [arg for name in RUN_PLUGINS for arg in ("-p", name)]
        return int(pytest.main([*preload, *args], plugins=list(plugins)))
    finally:
        if previous is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def run_on_workers(
    settings: Settings,
    workers: int,
    xdist_options: Sequence[str],
    say: Callable[[str], None],
    directory: Path | None = None,
) -> Outcome:
    """Run the exchanges on `workers` pytest-xdist workers and merge them into one `Outcome`.

    A worker that failed leaves its traceback in `outcome.internal_error` (exit 4); what the others
    ran is judged and reported all the same.
    """
    seed = new_seed(settings)
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    spec = ShardSpec.of(settings, seed, workers, directory)
    collector = ShardCollector()
    say(f"spreading the connections over {workers} workers (pytest-xdist), seed {seed}")
    code = int(pytest.ExitCode.INTERRUPTED)  # unless the workers run: a signal came first
    shards_args = [
        str(SHARDS_DIR),
        "-c",
        str(SHARDS_DIR / "pytest.ini"),
        "--rootdir",
        str(SHARDS_DIR),
        "-p",
        "xdist.plugin",
        "-n",
        str(workers),
        *xdist_options,
        "-p",
        "no:terminal",
        "--rc-shards",
        spec.to_json(),
    ]
    with signals.passed_to_workers(), progress.from_workers():
        if not signals.received:
            code = run_pytest(shards_args, [collector])
    interrupted = code == pytest.ExitCode.INTERRUPTED or bool(signals.received)
    if code == pytest.ExitCode.USAGE_ERROR and not collector.received:
        shown = " ".join(xdist_options) or "(none)"
        raise WorkersRefused(f"--xdist-option {shown}: pytest-xdist refused these options (its message is above)")
    if code != 0 and not collector.errors and not interrupted:
        collector.errors.append(f"pytest-xdist exited {code} with {len(collector.received)} of {workers} shards")
    url = public_url(settings.target, settings.auth.secrets)
    return finish(settings, seed, collector.shards(url, workers, interrupted), started_at, started, say, directory)

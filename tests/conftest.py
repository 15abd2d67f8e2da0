"""The test session's fixtures; the helpers tests share are in tests/harness.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from conformance.generate.corpus import _no_local_constants

# Re-exported so that a branch still importing these from tests.conftest merges; import them from tests.harness.
from tests.harness import FAST, LATE_S, ServerThread, judged, mock_thread, run, scripted_against, seeds

__all__ = ["FAST", "LATE_S", "ServerThread", "judged", "mock_thread", "run", "scripted_against", "seeds"]


#: xdist's workers per CPU for `-n auto`: the tests wait (out timeouts, slow servers, listening out) about
#: 60% of their time, so with one worker a CPU two cores stood 60% idle through a 22-minute CI run; with two
#: a CPU it took 14. The cap keeps a large machine's workers (each a few hundred MB) in bounds.
WORKERS_PER_CPU = 2
MAX_WORKERS = 16


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: WORKERS_PER_CPU workers a usable CPU, unless PYTEST_XDIST_AUTO_NUM_WORKERS says (xdist reads it)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, WORKERS_PER_CPU * usable)


@pytest.fixture(autouse=True, scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Drawn corpora go to a folder of this test session, not the user's cache."""
    previous = os.environ.get("REALTIME_CONFORMANCE_CACHE")
    os.environ["REALTIME_CONFORMANCE_CACHE"] = str(tmp_path_factory.mktemp("corpus"))
    yield
    if previous is None:
        del os.environ["REALTIME_CONFORMANCE_CACHE"]
    else:
        os.environ["REALTIME_CONFORMANCE_CACHE"] = previous


@pytest.fixture
def reproducible_draws() -> Iterator[None]:
    """Hypothesis draws that depend on the test's seed alone. A derandomized test that counts what its draws hold
    needs them: Hypothesis otherwise mixes in literals from whichever local modules the process imported, so the
    same test drew other events in an xdist worker of the whole suite than when run alone (and once found none of
    what it counts)."""
    with _no_local_constants():
        yield

"""Shared helpers: run the mock and the runner on loopback with short, bounded timeouts."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from conformance.checks import Judgement, judge_all
from conformance.contract import load_contract
from conformance.generate import scripted_plans
from conformance.mock import MockConfig, serve_mock
from conformance.run.runner import RunLog, Target, run_plans
from conformance.wire.transport import Limits

T = TypeVar("T")
FAST = Limits(connect_s=2.0, answer_s=1.0, close_s=0.5)
LATE_S = 2.0  # the answers-late fault's delay: beyond FAST.answer_s


def seeds() -> list[int]:
    """The seeds a verdict test sweeps: 1 to 3 in CI, or the range in $RC_SEEDS (`RC_SEEDS=1-10`)."""
    first, _, last = os.environ.get("RC_SEEDS", "1-3").partition("-")
    return list(range(int(first), int(last or first) + 1))


def run(coro: Coroutine[Any, Any, T], limit_s: float = 60.0) -> T:
    """Run a coroutine with an overall deadline, so no test can hang."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, limit_s)

    return asyncio.run(bounded())


async def scripted_against(config: MockConfig, target_limits: Limits = FAST) -> RunLog:
    async with serve_mock(config) as url:
        return await run_plans(scripted_plans(), Target(url, limits=target_limits, settle_s=0.05))


def judged(log: RunLog) -> Judgement:
    return judge_all(log.transcripts, load_contract())


class ServerThread:
    """Run an async server context (yielding its URL) on its own loop in a thread, for CLI tests.

    The CLI runs its own event loop, so a server it talks to must live on another one.
    """

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._factory() as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self.url

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def mock_thread(config: MockConfig) -> ServerThread:
    return ServerThread(lambda: serve_mock(config))


@pytest.fixture(autouse=True, scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Drawn corpora go to a folder of this test session, not the user's cache."""
    import os

    previous = os.environ.get("REALTIME_CONFORMANCE_CACHE")
    os.environ["REALTIME_CONFORMANCE_CACHE"] = str(tmp_path_factory.mktemp("corpus"))
    yield
    if previous is None:
        del os.environ["REALTIME_CONFORMANCE_CACHE"]
    else:
        os.environ["REALTIME_CONFORMANCE_CACHE"] = previous

"""Our own pauses are never a target's lateness.

While an answer is on its way, our process may stop reading (a collection, a C call holding the GIL,
a starved CPU on a loaded CI runner): the answer is read late, though it arrived in time. Each server
frame is stamped with the earliest time it may have arrived (conformance.wire.arrival), so such a
pause never fails a conforming target, and a target that answers late by more than our pause still
fails. The servers here run on a thread of their own (a process apart, for what matters: the pauses
are sleeps in the suite's event loop, which leave the GIL to them); the pauses are placed at random
after sends, per seed.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.mock import DEFAULT_MODEL
from conformance.mock.session import Send, Sleep
from conformance.run import shard
from conformance.transcript import Frame
from conformance.wire import transport
from conformance.wire.arrival import new_loop
from conformance.wire.transport import Closed, ConnectFailed, Session, open_session
from tests.harness import FAST, Reply, ServerThread, as_documented, documented, event_of, run_cli, seeds, serving

TIMEOUT_S = 0.4
PAUSE_S = 0.6  # longer than the timeout: an answer read after it is read late
PAUSES = 4  # per run, after sends drawn at random
LATE_S = 1.0  # a late server's answers: later than the timeout, and than our pause
QUIET = ["--profile", "full", "--connections", "4", "--shrink-budget-s", "0", "--no-html", "--quiet"]


def answered_after(delay_s: float) -> Callable[[str], Any]:
    """A handler answering each message with `{"type": "answer"}` after `delay_s` (on its own loop)."""

    async def handle(ws: Any) -> None:
        async for _ in ws:
            await asyncio.sleep(delay_s)
            await ws.send('{"type": "answer"}')

    return handle


def latency(url: str, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None, pause_s: float) -> float:
    """The recorded time from one send to its answer, our loop paused `pause_s` right after the send."""

    async def exchange() -> float:
        session = await open_session(url, limits=FAST)
        assert not isinstance(session, ConnectFailed), session
        sent = await session.send("{}")
        if pause_s:
            asyncio.get_running_loop().call_soon(time.sleep, pause_s)  # blocks the loop: nothing is read
        answer = await session.receive(5.0)
        await session.close()
        assert isinstance(sent, Frame) and isinstance(answer, Frame), answer
        return answer.time - sent.time

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(exchange())


def test_an_answer_that_arrived_during_our_pause_keeps_the_time_it_may_have_arrived() -> None:
    with ServerThread(lambda: serving(answered_after(0.1))) as url:
        paused = latency(url, new_loop, 1.0)
        blind = latency(url, None, 1.0)  # a loop whose polls we cannot see: stamped when read
    assert paused < 0.1 + 0.15, paused  # never later than it arrived
    assert blind >= 1.0, blind  # what the pause costs where the polls are not watched


@pytest.mark.parametrize(("answer_s", "pause_s"), [(0.3, 0.0), (0.8, 0.3)])
def test_an_answer_that_arrived_while_we_waited_is_never_stamped_early(answer_s: float, pause_s: float) -> None:
    """With no pause, or one that ended before the answer came, the stamp is the arrival: a late answer stays late."""
    with ServerThread(lambda: serving(answered_after(answer_s))) as url:
        measured = latency(url, new_loop, pause_s)
    assert answer_s - 0.005 <= measured < answer_s + 0.15, measured


class Pauses:
    """Sleeps in the suite's loop right after `PAUSES` of the run's sends, drawn at random by the seed."""

    def __init__(self, seed: int, sends: int) -> None:
        self._at = set(random.Random(seed).sample(range(sends), PAUSES))
        self._count = itertools.count()
        self._lock = threading.Lock()
        self.made = 0

    def wrap(self, send: Callable[[Session, str], Any]) -> Callable[[Session, str], Any]:
        async def send_then_pause(session: Session, text: str) -> Frame | Closed:
            sent: Frame | Closed = await send(session, text)
            with self._lock:
                pause = next(self._count) in self._at and isinstance(sent, Frame)
                self.made += pause
            if pause:
                asyncio.get_running_loop().call_soon(time.sleep, PAUSE_S)  # the answer is on its way meanwhile
            return sent

        return send_then_pause


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Pauses]]:
    def install(seed: int) -> Pauses:
        pauses = Pauses(seed, 60)  # within the first 60 sends: every full run sends more, a late server's too
        monkeypatch.setattr(transport.Session, "send", pauses.wrap(transport.Session.send))
        return pauses

    yield install


def run_against(reply: Reply, seed: int, report: Path) -> dict[str, list[str]]:
    """The full profile against `documented(reply)` on its own thread: each failed requirement's messages."""
    path = f"/realtime?model={DEFAULT_MODEL}"
    with ServerThread(lambda: serving(documented(reply), path, compression=None)) as url:
        args = ["--target", url, "--seed", str(seed), "--timeout", str(TIMEOUT_S), "--report-dir", str(report)]
        result = run_cli("run", *args, *QUIET)
    assert result.exit_code in (0, 1), result.stderr
    return result.failed


def late_answers(text: str) -> list[Any]:
    """Every session.updated comes `LATE_S` late (right after an error too); errors as documented."""
    if event_of(text).get("type") == "session.updated":
        return [Sleep(LATE_S), Send(text)]
    return as_documented(text)


@pytest.mark.parametrize("seed", seeds())
def test_our_pauses_while_answers_are_on_their_way_fail_no_conforming_target(
    seed: int, tmp_path: Path, paused: Callable[[int], Pauses], monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = paused(seed)
    assert run_against(as_documented, seed, tmp_path / "watched") == {}
    assert pauses.made == PAUSES
    # the same pauses in a loop whose polls are not watched: the conforming server is blamed for them
    monkeypatch.setattr(shard, "new_loop", None)
    blind = paused(seed)
    failed = run_against(as_documented, seed, tmp_path / "blind")
    assert blind.made == PAUSES
    messages = [m for ms in failed.values() for m in ms]
    assert messages and all(re.fullmatch(rf".* after [\d.]+s; the timeout is {TIMEOUT_S}s", m) for m in messages)


@pytest.mark.parametrize("seed", seeds())
def test_a_target_late_by_more_than_our_pauses_still_fails_for_its_lateness_alone(
    seed: int, tmp_path: Path, paused: Callable[[int], Pauses]
) -> None:
    pauses = paused(seed)
    failed = run_against(late_answers, seed, tmp_path)
    assert pauses.made == PAUSES
    assert "EX-VALID-ANSWERED" in failed and set(failed) <= {"EX-VALID-ANSWERED", "EX-UNDETERMINED-ANSWERED"}, failed

"""Frames are stamped when they arrive, not when the runner reads them; the earlier event_ids an error may
echo are kept as they are sent. Real servers on loopback."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from conformance.run.connection import Earlier
from conformance.transcript import Frame
from conformance.wire.transport import Closed, ConnectFailed, Timeout, open_session
from tests.harness import FAST, run, self_signed_tls, serving


def test_frames_are_stamped_as_they_arrive_while_nobody_reads() -> None:
    """The runner may be busy elsewhere (pacing, backoff, another connection's work): a frame that
    arrived meanwhile keeps its arrival time, so it never lands after a send that followed it."""

    async def two_apart(ws: ServerConnection) -> None:
        await ws.send('{"type": "a"}')
        await asyncio.sleep(0.3)
        await ws.send('{"type": "b"}')
        await ws.wait_closed()

    async def scenario() -> tuple[object, object, object, object]:
        async with serving(two_apart) as url:
            session = await open_session(url, limits=FAST)
            assert not isinstance(session, ConnectFailed)
            await asyncio.sleep(0.9)  # not reading: both frames arrive meanwhile
            sent = await session.send("{}")
            first, second, third = [await session.receive(0.3) for _ in range(3)]
            await session.close()
            return sent, first, second, third

    sent, first, second, third = run(scenario())
    assert isinstance(sent, Frame) and isinstance(first, Frame) and isinstance(second, Frame)
    assert (first.text, second.text) == ('{"type": "a"}', '{"type": "b"}')
    assert second.time - first.time >= 0.15  # their arrival times, not the moment they were read
    assert second.time < sent.time and sent.time >= 0.85
    assert isinstance(third, Timeout)


def test_an_echo_is_claimed_by_an_id_sent_once_or_sent_unawaited_never_by_its_own() -> None:
    earlier = Earlier()
    earlier.add("once", ("session.updated",))
    earlier.add("twice", ("session.updated",))
    earlier.add("twice", ("session.updated",))
    earlier.add("audio", ())
    earlier.add("audio", ())
    earlier.add(None, ())
    claimed = earlier.claimer("mine")
    assert claimed("once") and claimed("audio")
    assert not claimed("twice") and not claimed(None) and not claimed("never-sent")
    assert not earlier.claimer("once")("once")  # an update reusing an id: an echo of it may be its own
    earlier.add("mine", ("session.updated",))
    assert claimed("mine") is False and earlier.claimer("next")("mine")


@pytest.mark.parametrize("tls", [False, True])
def test_a_send_to_a_target_that_stops_reading_ends_within_the_answer_timeout(tmp_path: Path, tls: bool) -> None:
    """Small frames go straight out (websockets cannot wait on them); once the target stops reading and
    the write buffer fills, a send waits for it to drain, and gives up at the answer timeout: recorded
    as attempted, never a hang. Over TLS too, whose records make a frame larger on the wire."""

    async def never_reads(ws: ServerConnection) -> None:
        await ws.wait_closed()  # with max_queue 1, websockets stops reading the socket after one message

    server, cert = self_signed_tls(tmp_path)
    options: dict[str, Any] = {"ssl": server} if tls else {}
    client = ssl.create_default_context(cafile=cert) if tls else None

    async def scenario() -> tuple[list[object], float]:
        async with serving(never_reads, max_size=None, max_queue=1, close_timeout=0.5, **options) as url:
            session = await open_session(url, limits=FAST, ssl_context=client)
            assert not isinstance(session, ConnectFailed), session
            started = asyncio.get_running_loop().time()
            results: list[object] = [await session.send("{}")]
            big = '{"x": "' + "\U0001f600" * (1 << 18) + '"}'  # 1 MiB of 4-byte characters
            for _ in range(64):  # bounded: the kernel's buffers hold a few MiB at most
                results.append(await session.send(big))
                if not isinstance(results[-1], Frame):
                    break
            took = asyncio.get_running_loop().time() - started
            await session.close()
            return results, took

    results, took = run(asyncio.wait_for(scenario(), 10))  # a send that never gives up fails here
    assert isinstance(results[0], Frame)
    assert results[-1] == Closed(None, "send failed"), results[-1]  # timed out: the target did not close
    assert FAST.answer_s <= took < FAST.answer_s + 3

"""The transport against real servers on loopback: typed outcomes, bounded waits, redaction."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection

from conformance.mock import MockConfig, serve_mock
from conformance.redact import REDACTED, redactor
from conformance.run.runner import Plan, Target, run_plans
from conformance.transcript import Frame
from conformance.wire.transport import (
    Auth,
    Closed,
    ConnectFailed,
    Limits,
    Timeout,
    open_session,
    public_url,
)
from tests.harness import FAST, free_port, loopback_server, run, self_signed_tls, serving

Handler = Callable[[ServerConnection], Awaitable[None]]


def server(handler: Handler, **options: object) -> contextlib.AbstractAsyncContextManager[str]:
    return serving(handler, **options)


def test_nothing_listening_is_refused() -> None:
    result = run(open_session(f"ws://127.0.0.1:{free_port()}/", Auth(), FAST))
    assert isinstance(result, ConnectFailed) and result.kind == "refused"


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "not a url", "ws://"])
def test_a_url_that_is_not_websocket_is_an_invalid_url(url: str) -> None:
    result = run(open_session(url, Auth(), FAST))
    assert isinstance(result, ConnectFailed) and result.kind == "invalid-url"


@pytest.mark.parametrize("status", [HTTPStatus.NOT_FOUND, HTTPStatus.INTERNAL_SERVER_ERROR, HTTPStatus.FORBIDDEN])
def test_a_rejected_handshake_keeps_its_http_status(status: HTTPStatus) -> None:
    async def reject(connection: ServerConnection, request: object) -> object:
        return connection.respond(status, "no\n")

    async def scenario() -> object:
        async with server(lambda ws: ws.wait_closed(), process_request=reject) as url:
            return await open_session(url, Auth(), FAST)

    result = run(scenario())
    assert isinstance(result, ConnectFailed) and result.status == status


def test_silence_is_a_timeout_and_a_server_close_keeps_its_code() -> None:
    async def quiet_then_close(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(4000, "bye")

    async def scenario() -> tuple[object, object]:
        async with server(quiet_then_close) as url:
            session = await open_session(url, Auth(), FAST)
            assert not isinstance(session, ConnectFailed)
            first = await session.receive(0.2)
            await session.send("{}")
            second = await session.receive(2.0)
            await session.close()
            return first, second

    first, second = run(scenario())
    assert isinstance(first, Timeout)
    assert isinstance(second, Closed) and second.code == 4000


def test_an_oversized_frame_closes_with_1009_and_is_recorded() -> None:
    async def flood(ws: ServerConnection) -> None:
        await ws.send("x" * 5000)
        await ws.wait_closed()

    async def scenario() -> tuple[object, list[object]]:
        async with server(flood) as url:
            session = await open_session(url, Auth(), Limits(answer_s=1.0, max_frame_bytes=1000, close_s=0.5))
            assert not isinstance(session, ConnectFailed)
            got = await session.receive(2.0)
            await session.close()
            return got, list(session.transcript(url, 1.0, []).frames)

    got, frames = run(scenario())
    assert isinstance(got, Closed) and got.code == 1009
    assert frames[-1].close_code == 1009  # type: ignore[attr-defined]


def test_frames_already_received_are_taken_without_waiting() -> None:
    async def burst(ws: ServerConnection) -> None:
        for i in range(3):
            await ws.send(json.dumps({"type": "x", "i": i}))
        await ws.wait_closed()

    async def scenario() -> list[object]:
        async with server(burst) as url:
            session = await open_session(url, Auth(), FAST)
            assert not isinstance(session, ConnectFailed)
            await session.receive(1.0)
            await asyncio.sleep(0.1)
            ready = await session.ready()
            await session.close()
            return ready

    assert len(run(scenario())) == 2


def test_a_frame_waiting_unread_in_the_socket_is_taken_before_the_caller_goes_on(tmp_path: Path) -> None:
    """`ready()` after an answer: a frame already in the socket, which the event loop has not read yet
    (it was busy), is read and stamped before `ready` returns, so it never lands after the next send.
    The server runs on a thread of its own, so it sends while this loop is held; over ws:// and wss://."""

    async def two(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send('{"type": "a"}')
        await asyncio.sleep(0.05)
        await ws.send('{"type": "b"}')
        await ws.wait_closed()

    async def scenario(client: ssl.SSLContext | None) -> tuple[object, list[Frame]]:
        session = await open_session(url, Auth(), FAST, ssl_context=client)
        assert not isinstance(session, ConnectFailed), session
        await session.send("{}")
        first = await session.receive(1.0)
        time.sleep(0.3)  # the loop held: "b" arrives in the socket meanwhile, unread
        ready = await session.ready()
        await session.close()
        return first, ready

    server, cert = self_signed_tls(tmp_path)
    for options, client in (({}, None), ({"ssl": server}, ssl.create_default_context(cafile=cert))):
        with loopback_server(two, **options) as url:
            first, ready = run(scenario(client))
        assert isinstance(first, Frame) and first.text == '{"type": "a"}'
        assert [frame.text for frame in ready] == ['{"type": "b"}'], url


def test_public_url_hides_credentials_in_userinfo_and_query() -> None:
    shown = public_url("wss://user:pw@example.test:8443/v1/realtime?model=gpt://f/m&api_key=abc&token=def")
    assert "pw" not in shown and "abc" not in shown and "def" not in shown and "user" not in shown
    assert "model=gpt://f/m" in shown and shown.count(REDACTED) == 2


def test_transcripts_keep_raw_frames_and_are_written_without_the_secret() -> None:
    """Judging sees the raw frames; the written transcript masks the credential."""
    canary = "canary-7f3a9c1e5d"

    async def scenario() -> tuple[str, str]:
        async with serve_mock(MockConfig(api_key=canary)) as url:
            auth = Auth(headers=(("Authorization", f"api-key {canary}"),), secrets=(canary,))
            update = {
                "type": "session.update",
                "event_id": "c1",
                "session": {"type": "realtime", "instructions": canary},
            }
            plan = Plan("canary", (json.dumps(update),))
            log = await run_plans([plan], Target(f"{url}?api_key={canary}", auth, FAST, settle_s=0.05))
            assert log.failure is None and log.transcripts
            written = "".join(t.to_jsonl(redactor(auth.secrets)) for t in log.transcripts)
            return "".join(f.text or "" for t in log.transcripts for f in t.frames), written

    raw, written = run(scenario())
    assert canary in raw
    assert canary not in written
    assert REDACTED in written

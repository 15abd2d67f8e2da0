"""A server written for the tests: it relays to the reference mock and adds frames of its own.

Tests give it a function that, from the handshake request it received, returns the frames to send
right after the mock's `session.created` (str: a text frame; bytes: a text frame with exactly
these bytes, valid UTF-8 or not); it may also rewrite that `session.created`. Everything else is
the mock's, so the relay is a conforming server plus exactly what the test adds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from conformance.mock import MockConfig, serve_mock
from tests.harness import ServerThread, serving

Extra = Callable[[Request, int], list[str | bytes]]  # (handshake request, connection number) -> frames


def relay(
    extra: Extra, config: MockConfig | None = None, created: Callable[[str], str] = lambda text: text
) -> ServerThread:
    """A ServerThread whose URL is the relay's (path /v1/realtime/openai, any query accepted);
    `created` may rewrite the text of the mock's session.created on its way."""

    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[str]:
        connections = 0
        async with serve_mock(config or MockConfig()) as upstream:

            async def handle(client: ServerConnection) -> None:
                nonlocal connections
                connections += 1
                assert client.request is not None
                frames = extra(client.request, connections)
                async with connect(upstream, ping_interval=None, max_size=None) as mock:
                    await client.send(created(str(await asyncio.wait_for(mock.recv(), 5))))  # session.created
                    for frame in frames:
                        await client.send(frame, text=True)

                    async def pump(source: object, sink: object) -> None:
                        with contextlib.suppress(ConnectionClosed):
                            async for message in source:  # type: ignore[attr-defined]
                                await sink.send(message)  # type: ignore[attr-defined]

                    tasks = [asyncio.create_task(pump(client, mock)), asyncio.create_task(pump(mock, client))]
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED, timeout=60)
                    for task in tasks:
                        task.cancel()

            async with serving(handle, max_size=None) as url:
                yield url

    return ServerThread(factory)

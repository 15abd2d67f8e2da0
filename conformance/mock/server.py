"""The reference mock's I/O: a real WebSocket server on 127.0.0.1 driving `MockSession`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from conformance.contract import DEFAULT_DIALECT, load_contract
from conformance.mock.faults import Fault, for_dialect
from conformance.mock.session import Action, Close, MockSession, Send, SendBinary, Sleep, default_models

PATH = "/v1/realtime/openai"
LOGGER = logging.getLogger("conformance.mock")


@dataclass(frozen=True)
class MockConfig:
    models: tuple[str, ...] = ()  # none: the dialect's default model (`default_models`)
    faults: tuple[Fault, ...] = ()
    api_key: str | None = None  # when set, the handshake needs `api-key <key>` or `Bearer <key>`
    late_s: float = 6.0
    host: str = "127.0.0.1"
    port: int = 0
    max_frame_bytes: int = 1 << 20
    ssl: ssl.SSLContext | None = None  # serve wss:// with this context
    dialect: str = DEFAULT_DIALECT  # the contract the mock speaks (its fields, models and errors)

    @property
    def accepted_models(self) -> tuple[str, ...]:
        return self.models or default_models(load_contract(dialect=self.dialect))


@dataclass
class _Handshake:
    config: MockConfig
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        names = {f.name for f in self.config.faults}
        if "rejects-handshake" in names:
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")
        if "hangs-handshake" in names:
            await self.stopping.wait()
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Stopping\n")
        if self.config.api_key is not None:
            given = request.headers.get("Authorization", "")
            if given not in (f"api-key {self.config.api_key}", f"Bearer {self.config.api_key}"):
                return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None


async def perform(ws: ServerConnection, actions: Iterable[Action]) -> bool:
    """Carry out the session's actions; False once the connection is closed."""
    for action in actions:
        if isinstance(action, Send):
            await ws.send(action.text)
        elif isinstance(action, SendBinary):
            await ws.send(action.data)
        elif isinstance(action, Sleep):
            await asyncio.sleep(action.seconds)
        elif isinstance(action, Close):
            await ws.close(action.code, action.reason)
            return False
    return True


def _handler(config: MockConfig) -> object:
    contract = load_contract(dialect=config.dialect)
    faults = tuple(for_dialect(fault, config.dialect) for fault in config.faults)

    async def handle(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        session = MockSession(contract, config.accepted_models, faults, config.late_s, path)
        try:
            if not await perform(ws, session.on_connect()):
                return
            async for message in ws:
                actions = session.on_text(message) if isinstance(message, str) else session.on_binary()
                if not await perform(ws, actions):
                    return
        except ConnectionClosed:
            return

    return handle


@contextlib.asynccontextmanager
async def serve_mock(config: MockConfig = MockConfig()) -> AsyncIterator[str]:
    """Run the mock until the block ends; yields its ws:// URL (path included)."""
    handshake = _Handshake(config)
    server: Server
    async with serve(
        _handler(config),  # type: ignore[arg-type]
        config.host,
        config.port,
        process_request=handshake,
        max_size=config.max_frame_bytes,
        ping_interval=None,
        compression=None,
        logger=LOGGER,
        ssl=config.ssl,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            yield f"{'wss' if config.ssl else 'ws'}://{config.host}:{port}{PATH}"
        finally:
            handshake.stopping.set()
            server.close()

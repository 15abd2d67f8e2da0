"""The client side of the wire: connect to any ws:// or wss:// URL, move frames, record them.

It knows nothing of requirements. Every wait has a deadline, and every way a connection can go
wrong becomes a typed outcome (`ConnectFailed`, `Timeout`, `Closed`) instead of an exception.
Every frame is recorded raw, with its arrival time, into a `Transcript`: judging needs the frames
as they came, so credentials are masked only where something is written or printed
(conformance.redact). A text frame that is not UTF-8 is recorded too (its bytes kept as lone
surrogates, which no JSON text can hold), and a redirect is never followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from conformance.redact import public_url as public_url
from conformance.transcript import Frame, Transcript
from conformance.wire.bounds import Auth as Auth
from conformance.wire.bounds import ByteBudget as ByteBudget
from conformance.wire.bounds import Closed as Closed
from conformance.wire.bounds import Limits as Limits
from conformance.wire.bounds import Timeout as Timeout
from conformance.wire.handshake import ConnectFailed as ConnectFailed
from conformance.wire.handshake import NoRedirects, failure


@dataclass
class Recorder:
    """The frames of one connection, raw, timed from its opening."""

    started: float = field(default_factory=time.monotonic)
    frames: list[Frame] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def text(self, direction: Literal["client", "server"], text: str, at: float | None = None) -> Frame:
        frame = Frame(direction, self.now() if at is None else at, text=text)
        self.frames.append(frame)
        return frame

    def binary(self, length: int, at: float) -> Frame:
        frame = Frame("server", at, binary_length=length)
        self.frames.append(frame)
        return frame

    def close(self, direction: Literal["client", "server"], code: int | None, reason: str) -> Frame:
        frame = Frame(direction, self.now(), close_code=code, close_reason=reason)
        self.frames.append(frame)
        return frame


class Session:
    """One open WebSocket: send text, receive frames with deadlines, close; everything recorded.

    A reader task takes frames off the socket as they arrive, so each frame's time is its
    arrival, and frames already on the wire can be taken without waiting (`ready`).
    """

    def __init__(
        self, ws: ClientConnection, recorder: Recorder, limits: Limits, budget: ByteBudget | None = None
    ) -> None:
        self._ws = ws
        self._recorder = recorder
        self._limits = limits
        self._budget = budget or ByteBudget(None)
        self.received_bytes = 0
        self.over_bound: str | None = None  # why a byte bound cut this connection
        self._inbox: asyncio.Queue[Frame | Closed] = asyncio.Queue()
        self._closed: Closed | None = None
        self._closing = False
        self._received = 0
        self._reader = asyncio.create_task(self._read())

    @property
    def closed(self) -> Closed | None:
        return self._closed

    @property
    def tls_fingerprint(self) -> str | None:
        """sha256 of the server's TLS certificate (wss:// only), for the certification manifest."""
        ssl_object = self._ws.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return hashlib.sha256(der).hexdigest() if der else None

    async def _read(self) -> None:
        while True:
            try:
                message = await self._ws.recv()
            except ConnectionClosed as exc:
                cause = exc.__cause__
                not_utf8 = isinstance(cause, UnicodeDecodeError) and isinstance(cause.object, bytes)
                if not_utf8 and cause is self._ws.protocol.parser_exc:  # in a close frame's reason
                    self._closed = Closed(1007, "a close frame whose reason is not UTF-8")
                    direction: Literal["client", "server"] = "server"
                elif isinstance(cause, UnicodeDecodeError) and isinstance(cause.object, bytes):
                    # a text message: websockets failed the connection (1007, as RFC 6455 asks); the
                    # frame is still evidence, its bytes kept as lone surrogates (never valid JSON)
                    text = cause.object.decode("utf-8", "surrogateescape")
                    self._inbox.put_nowait(self._recorder.text("server", text))
                    self._closed = Closed(1007, f"a text frame not in UTF-8 ({cause.reason} at byte {cause.start})")
                    direction = "client"
                elif exc.sent is not None and exc.sent.code == 1009:
                    self._closed = Closed(1009, f"a frame over {self._limits.max_frame_bytes} bytes")
                    direction = "client"
                else:
                    code = exc.rcvd.code if exc.rcvd else None
                    self._closed = Closed(code, exc.rcvd.reason if exc.rcvd else "closed without a close frame")
                    direction = "server"
                if not self._closing:
                    self._recorder.close(direction, self._closed.code, self._closed.reason)
                self._inbox.put_nowait(self._closed)
                return
            at = self._recorder.now()
            size = len(message) if isinstance(message, bytes) or message.isascii() else len(message.encode())
            self.received_bytes += size
            if not self._budget.take(size) or self.received_bytes > self._limits.max_connection_bytes:
                self.over_bound = self._over_bound()
                await self._cut(self.over_bound)
                return
            if isinstance(message, str):
                frame = self._recorder.text("server", message, at)
            else:
                frame = self._recorder.binary(len(message), at)
            self._received += 1
            self._inbox.put_nowait(frame)
            if self._received >= self._limits.max_frames:
                await self._cut(f"more than {self._limits.max_frames} frames")
                return

    def _over_bound(self) -> str:
        if self.received_bytes > self._limits.max_connection_bytes:
            return f"more than {self._limits.max_connection_bytes} bytes received on one connection"
        return f"more than {self._budget.limit} bytes received in the run"

    async def _cut(self, reason: str) -> None:
        """End the connection from our side for a bound it passed; the cut is recorded, the frame that passed it not."""
        self._closed = Closed(None, reason)
        self._recorder.close("client", None, reason)
        self._inbox.put_nowait(self._closed)

    async def send(self, text: str) -> Frame | Closed:
        """Send one text frame, recorded (time and place) when the send completed: an answer's
        deadline starts there (a large frame takes time to send), and what arrived before is not its."""
        if self._closed is not None:
            return self._closed
        try:
            async with asyncio.timeout(self._limits.answer_s):
                await self._ws.send(text)
        except (ConnectionClosed, TimeoutError):
            self._recorder.text("client", text)  # what was attempted stays on the record
            return self._closed or Closed(None, "send failed")
        return self._recorder.text("client", text)

    async def receive(self, timeout_s: float) -> Frame | Timeout | Closed:
        """The next server frame, or `Timeout` after `timeout_s`, or `Closed`."""
        if not self._inbox.empty():
            return self._inbox.get_nowait()
        if self._closed is not None:
            return self._closed
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                return await self._inbox.get()
        except TimeoutError:
            return Timeout(timeout_s)

    async def ready(self) -> list[Frame]:
        """Frames that have already arrived, without waiting for more."""
        await asyncio.sleep(0)
        frames = []
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if isinstance(item, Closed):
                self._inbox.put_nowait(item)
                break
            frames.append(item)
        return frames

    def transcript(self, url: str, timeout_s: float, models: Sequence[str], label: str = "") -> Transcript:
        """What was recorded so far, with the URL as it may be shown."""
        return Transcript(
            url=public_url(url),
            timeout_s=timeout_s,
            models=tuple(models),
            frames=tuple(self._recorder.frames),
            label=label,
        )

    async def close(self) -> None:
        """Close from the client side (recorded), bounded by the close timeout; a second call does nothing."""
        if self._closing:
            return
        self._closing = True
        if self._closed is None:
            self._recorder.close("client", 1000, "")
        if self._closed is None or self._closed.code is None:  # open, or cut by a bound: close the socket
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), self._limits.close_s)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


NO_AUTH, LIMITS = Auth(), Limits()  # open_session's defaults


async def open_session(
    url: str,
    auth: Auth = NO_AUTH,
    limits: Limits = LIMITS,
    ssl_context: ssl.SSLContext | None = None,
    budget: ByteBudget | None = None,
) -> Session | ConnectFailed:
    """Open a WebSocket to `url` (used as given, path and query included)."""
    recorder = Recorder()
    kwargs = {"ssl": ssl_context} if ssl_context is not None and url.startswith("wss://") else {}
    try:
        ws = await asyncio.wait_for(
            NoRedirects(
                url,
                additional_headers=list(auth.headers),
                open_timeout=limits.connect_s,
                close_timeout=limits.close_s,
                max_size=limits.max_frame_bytes,
                ping_interval=None,
                compression=None,
                proxy=None,
                user_agent_header="realtime-conformance",
                **kwargs,  # type: ignore[arg-type]
            ),
            limits.connect_s + 1,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed, EOFError, ValueError) as exc:
        if isinstance(exc, ValueError) and not isinstance(exc, InvalidURI | ssl.SSLError):
            return ConnectFailed("invalid-url", f"not a usable URL: {public_url(url)}")
        return failure(exc, url)
    recorder.started = time.monotonic()
    return Session(ws, recorder, limits, budget)

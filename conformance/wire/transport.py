"""The client side of the wire: connect to any ws:// or wss:// URL, move frames, record them.

It knows nothing of requirements. Every wait has a deadline, and every way a connection can go
wrong becomes a typed outcome (`ConnectFailed`, `Timeout`, `Closed`) instead of an exception.
Every frame is recorded raw, with the time it was read or sent and, where earlier, the earliest it may
have arrived or left (conformance.wire.arrival), into a `Transcript`: judging needs the frames as they
came, so credentials are masked only where something is written or printed (conformance.redact). A text
frame that is not UTF-8 is recorded too (its bytes kept as lone surrogates, which no JSON text can hold),
and a redirect is never followed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import select
import ssl
import time
from collections.abc import Sequence
from typing import Any, Literal, cast

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, ProtocolError
from websockets.frames import DATA_OPCODES, CloseCode, Opcode
from websockets.frames import Close as CloseFrame
from websockets.frames import Frame as WireFrame
from websockets.protocol import Event, State

from conformance.redact import public_url as public_url
from conformance.transcript import (
    CONTAINERS_PASSED,
    MAX_CONNECTION_CONTAINERS,
    TOO_DEEP,
    Frame,
    Transcript,
    containers,
    too_deep,
)
from conformance.wire.arrival import arrival_clock
from conformance.wire.bounds import Auth as Auth
from conformance.wire.bounds import ByteBudget as ByteBudget
from conformance.wire.bounds import Closed as Closed
from conformance.wire.bounds import Limits as Limits
from conformance.wire.bounds import Timeout as Timeout
from conformance.wire.handshake import ConnectFailed as ConnectFailed
from conformance.wire.handshake import NoRedirects, failure
from conformance.wire.recording import Recorder

#: A read at least this large may have left bytes in the socket: it is asked, and what is left keeps its bound.
LARGE_READ = 16 << 10


class Wire(ClientConnection):
    """websockets' client connection whose data frames are handed over in the protocol's callback, as
    the bytes arrive, instead of being queued for `recv`: so each frame is stamped at its arrival
    without a task that reads them (a task switch and a queue per frame), whatever the runner is doing.

    `since` is a time before which nothing being read now had arrived (conformance.wire.arrival): the
    loop's bound for this read, or an earlier read's that left bytes in the socket (the loop reads 256 KiB
    at a time; the rest of a large answer may have waited there through a pause of ours)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taker: Session | None = None
        self.early: list[tuple[WireFrame, float]] = []  # before a session took the connection, and their bounds
        self.released = False  # the session closed it: what still arrives is dropped
        self.clock = arrival_clock(self.loop)
        self.since = self.clock()
        self._left_since: float | None = None  # the bound of a read that left bytes in the socket
        self.socket_poll: select.poll | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.socket_poll = _poller(self)

    def data_received(self, data: bytes) -> None:
        since = self.clock()
        self.since = since if self._left_since is None else min(since, self._left_since)
        poll = self.socket_poll
        self._left_since = self.since if len(data) >= LARGE_READ and poll is not None and poll.poll(0) else None
        super().data_received(data)

    def process_event(self, event: Event) -> None:
        if self.response is None or not isinstance(event, WireFrame) or event.opcode not in DATA_OPCODES:
            if isinstance(event, WireFrame) and self.taker is not None and event.opcode is not Opcode.CLOSE:
                self.taker.control_arrived(len(event.data))  # a ping or pong counts against the bounds too
            super().process_event(event)  # the handshake, and control frames (websockets answers pings)
            closing = isinstance(event, WireFrame) and event.opcode is Opcode.CLOSE
            if closing and self.taker is not None and self.protocol.close_rcvd is not None:
                self.taker.close_received(self.protocol.close_rcvd)
        elif self.taker is not None:
            self.taker.arrived(event)
        elif not self.released:
            self.early.append((event, self.since))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.taker is not None:
            self.taker.lost()


class Session:
    """One open WebSocket: send text, receive frames with deadlines, close; everything recorded.

    Frames are taken as they arrive (`Wire`), so each frame's time is its arrival, and frames
    already on the wire can be taken without waiting (`ready`).
    """

    def __init__(self, ws: Wire, recorder: Recorder, limits: Limits, budget: ByteBudget | None = None) -> None:
        self._ws = ws
        self._recorder = recorder
        self._limits = limits
        self._budget = budget or ByteBudget(None)
        self.received_bytes = 0
        self.containers = 0  # JSON objects and arrays in the text frames received, at most (`containers`)
        self.over_bound: str | None = None  # why a bound (bytes, objects and arrays, depth) cut this connection
        self._inbox: collections.deque[Frame] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: Closed | None = None
        self._closing = False
        self._received = 0
        self._message = bytearray()  # the fragments so far of a fragmented message
        self._text = False
        self._tls = ws.transport.get_extra_info("sslcontext") is not None
        ws.taker = self
        for early, since in ws.early:
            self.arrived(early, since)
        ws.early.clear()
        if ws.protocol.close_rcvd is not None:
            self.close_received(ws.protocol.close_rcvd)
        if ws.connection_lost_waiter.done():
            self.lost()

    @property
    def closed(self) -> Closed | None:
        return self._closed

    @property
    def frames(self) -> Sequence[Frame]:
        """Every frame recorded so far, in order (the recorder's own list: read it, never change it)."""
        return self._recorder.frames

    @property
    def tls_fingerprint(self) -> str | None:
        """sha256 of the server's TLS certificate (wss:// only), for the certification manifest."""
        ssl_object = self._ws.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return hashlib.sha256(der).hexdigest() if der else None

    def arrived(self, frame: WireFrame, since: float | None = None) -> None:
        """A data frame, as it arrives: counted against the bounds (each fragment of a message too: a
        target may send empty continuation frames without end), and a whole message recorded and handed over."""
        if self._closed is not None:
            return  # cut by a bound, or failed: nothing more is taken
        if not self._counted(len(frame.data)):
            return
        if frame.opcode is not Opcode.CONT:
            self._text = frame.opcode is Opcode.TEXT
            self._message.clear()
        if not frame.fin:
            self._message += frame.data
            return
        data = frame.data if not self._message else bytes(self._message + frame.data)
        self._message.clear()
        since = self._ws.since if since is None else since
        if self._text:
            try:
                text = bytes(data).decode()
            except UnicodeDecodeError as exc:
                self._not_utf8(bytes(data), exc)
                return
            if not self._readable(text):
                return
            recorded = self._recorder.text("server", text, since)
        else:
            recorded = self._recorder.binary(len(data), since)
        self._hand_over(recorded)

    def control_arrived(self, size: int) -> None:
        """A ping or pong: counted against the frame and byte bounds as data frames are. A target that pings
        without end and reads nothing would else pile our pongs up in memory, unsent, until the timeout."""
        if self._closed is None and not self._counted(size):
            self._ws.transport.abort()  # no close handshake: websockets would answer each ping meanwhile

    def _counted(self, size: int) -> bool:
        """Count one frame of `size` bytes against the frame and byte bounds; False when that cut the connection."""
        self.received_bytes += size
        self._received += 1
        if not self._budget.take(size) or self.received_bytes > self._limits.max_connection_bytes:
            self.over_bound = self._over_bound()
            self._cut(self.over_bound)
        elif self._received > self._limits.max_frames:
            self._cut(f"more than {self._limits.max_frames} frames")
        return self._closed is None

    def _hand_over(self, frame: Frame | None) -> None:
        if frame is not None:
            self._inbox.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _readable(self, text: str) -> bool:
        """Whether a text frame keeps within what a transcript may hold (the JSON objects and arrays of the
        connection, the nesting of one frame); else the connection is cut there, as at a byte bound."""
        counted = containers(text)
        self.containers += counted
        bound = CONTAINERS_PASSED if self.containers > MAX_CONNECTION_CONTAINERS else None
        bound = TOO_DEEP if bound is None and too_deep(text, counted) else bound
        if bound is not None:
            self.over_bound = bound  # listed as the byte bounds' cuts are (`limits.cut`)
            self._cut(bound)
        return bound is None

    def _not_utf8(self, data: bytes, exc: UnicodeDecodeError) -> None:
        """A text frame that is not UTF-8: websockets' own answer (fail the connection, 1007, as RFC 6455
        asks), and the frame is still evidence, its bytes kept as lone surrogates (never valid JSON), unless
        it passes what a transcript may hold."""
        text = data.decode("utf-8", "surrogateescape")
        if not self._readable(text):
            return
        self._hand_over(self._recorder.text("server", text, self._ws.since))
        self._closed = Closed(1007, f"a text frame not in UTF-8 ({exc.reason} at byte {exc.start})")
        if not self._closing:
            self._recorder.close("client", self._closed.code, self._closed.reason)
        ws = self._ws
        ws.set_connection_exc(exc)
        if ws.protocol.state is State.OPEN:  # `close` waits for the connection's end, bounded
            ws.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            with contextlib.suppress(Exception):
                ws.send_data()

    def close_received(self, close: CloseFrame) -> None:
        """The server's close frame, as it arrives: recorded then (its TCP connection may outlive it by
        any time, and nothing sent meanwhile can be answered), unless we ended the connection first."""
        if self._closed is None:
            self._closed = Closed(close.code, close.reason)
            if not self._closing:
                self._recorder.close("server", close.code, close.reason, self._ws.since)
        self._hand_over(None)

    def lost(self) -> None:
        """The connection ended (its close frame, or none): recorded at once, unless we ended it first."""
        if self._closed is None:
            exc = self._ws.close_exc
            cause = exc.__cause__
            not_utf8 = isinstance(cause, UnicodeDecodeError) and isinstance(cause.object, bytes)
            if not_utf8 and cause is self._ws.protocol.parser_exc:  # in a close frame's reason
                self._closed = Closed(1007, "a close frame whose reason is not UTF-8")
                direction: Literal["client", "server"] = "server"
            elif exc.sent is not None and exc.sent.code == 1009:
                self._closed = Closed(1009, f"a frame over {self._limits.max_frame_bytes} bytes")
                direction = "client"
            elif exc.rcvd is None and isinstance(self._ws.protocol.parser_exc, ProtocolError):  # we failed it
                broken = self._ws.protocol.parser_exc
                self._closed = Closed(None, f"a frame that breaks the WebSocket protocol ({broken}); no close frame")
                direction = "server"
            else:
                code = exc.rcvd.code if exc.rcvd else None
                self._closed = Closed(code, exc.rcvd.reason if exc.rcvd else "closed without a close frame")
                direction = "server"
            if not self._closing:
                earliest = self._ws.since if direction == "server" else None
                self._recorder.close(direction, self._closed.code, self._closed.reason, earliest)
        self._hand_over(None)

    def _over_bound(self) -> str:
        if self.received_bytes > self._limits.max_connection_bytes:
            return f"more than {self._limits.max_connection_bytes} bytes received on one connection"
        return f"more than {self._budget.limit} bytes received in the run"

    def _cut(self, reason: str) -> None:
        """End the connection from our side for a bound it passed; the cut is recorded, the frame that passed it
        not; what still arrives is dropped until `close` ends the connection."""
        self._closed = Closed(None, reason)
        self._recorder.close("client", None, reason)
        self._hand_over(None)

    async def send(self, text: str) -> Frame | Closed:
        """Send one text frame, recorded (time and place) when the send completed: an answer's
        deadline starts there (a large frame takes time to send), and what arrived before is not its.
        It keeps the earliest it may have completed (no earlier than it began, nor than the poll that let a
        waiting send go on): a pause of ours before it was recorded is not counted as the target's time."""
        if self._closed is not None:
            return self._closed
        began = time.monotonic()
        try:
            if self._fits(text):  # websockets writes it at once: no deadline to keep
                await self._ws.send(text)
            else:
                async with asyncio.timeout(self._limits.answer_s):
                    await self._ws.send(text)
        except (ConnectionClosed, TimeoutError):
            self._recorder.text("client", text)  # what was attempted stays on the record
            return self._closed or Closed(None, "send failed")
        return self._recorder.text("client", text, max(began, self._ws.clock()))

    def _fits(self, text: str) -> bool:
        """Whether sending `text` cannot wait: a plain connection, open, and its frame (at most 4 bytes a
        character, 14 of header) fits in the write buffer below the limit websockets waits to drain to.
        Over TLS the buffer counts records with their own overhead: always under the deadline."""
        ws = self._ws
        if self._tls:
            return False
        room = ws.write_limit_high - ws.transport.get_write_buffer_size()
        return ws.protocol.state is State.OPEN and not ws.paused and 4 * len(text) + 14 < room

    async def receive(self, timeout_s: float) -> Frame | Timeout | Closed:
        """The next server frame, or `Timeout` after `timeout_s`, or `Closed`."""
        if not self._inbox and self._closed is None:
            waiter = self._waiter = self._ws.loop.create_future()  # the connection's loop: no lookup (a syscall)
            timer = self._ws.loop.call_later(max(timeout_s, 0.0), _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._inbox:
            return self._inbox.popleft()
        return self._closed or Timeout(timeout_s)

    async def ready(self) -> list[Frame]:
        """Frames that have already arrived, without waiting for more: while bytes wait in the socket,
        passes of the event loop first, so a frame already there is read and stamped before what the
        caller does next (the loop reads a socket only after the tasks woken before it ran); none
        when nothing waits. Where the socket cannot be polled, one pass."""
        poll = self._ws.socket_poll if self._closed is None else None  # a closed socket's number may be another's
        if poll is None:
            await asyncio.sleep(0)
        else:
            for _ in range(8):  # bounded: a flood is read on the next wait anyway
                if not poll.poll(0):
                    break
                await asyncio.sleep(0)
        frames = list(self._inbox)
        self._inbox.clear()
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
        if not self._ws.connection_lost_waiter.done():  # open, cut by a bound, or failed by us
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), self._limits.close_s)
        if not self._ws.connection_lost_waiter.done():  # the close handshake ran out of time: drop it
            self._ws.transport.abort()
        self._ws.taker, self._ws.released = None, True


def _poller(ws: Wire) -> select.poll | None:
    """A poll of the connection's socket for bytes to read (TLS too: what its layer read, it has
    delivered); None where there is no poll (Windows) or the socket is already closed."""
    sock = ws.transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0 or not hasattr(select, "poll"):
        return None
    poll = select.poll()
    poll.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return poll


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


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
                create_connection=Wire,
                **kwargs,  # type: ignore[arg-type]
            ),
            limits.connect_s + 1,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed, EOFError, ValueError) as exc:
        if isinstance(exc, ValueError) and not isinstance(exc, InvalidURI | ssl.SSLError):
            return ConnectFailed("invalid-url", f"not a usable URL: {public_url(url)}")
        return failure(exc, url)
    recorder.started = time.monotonic()
    return Session(cast(Wire, ws), recorder, limits, budget)

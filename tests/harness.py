"""The one test harness: run the CLI and read what it wrote; serve test servers on loopback.

- `run_cli` runs `realtime-conformance` in this process, `run_cli_process` as a real process (the
  worktree's entry point), and `Running` as a process whose output a test acts on line by line;
  each gives a `Result`: the exit code, the output (an in-process run also passes it on, so capsys
  sees it) and the report's summary.json, checked against the summary schema whenever read.
- `serving` (in the test's own event loop) and `loopback_server` (on a thread of its own, for the
  CLI, which runs its own loop) serve a WebSocket handler on 127.0.0.1 at a free port.
- `documented` is the documented-behaviour server the tests customise: the reference mock's
  sans-I/O session (`session.created`, patch semantics, errors echoing the update) with each answer
  passed through a function that says what this server does instead; `vendored` adds what any
  conforming server may (reordered keys, unknown fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import io
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator, FormatChecker
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from conformance.checks import Judgement, judge_all
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.generate import scripted_plans
from conformance.mock import MockConfig, serve_mock
from conformance.mock.server import perform
from conformance.mock.session import DEFAULT_MODEL, Action, MockSession, Send
from conformance.reports.summary import summary_schema
from conformance.run.runner import RunLog, Target, run_plans
from conformance.wire.transport import Limits

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "realtime-conformance"
FAST = Limits(connect_s=2.0, answer_s=1.0, close_s=0.5)
LATE_S = 2.0  # the answers-late fault's delay: beyond FAST.answer_s
Handler = Callable[[ServerConnection], Awaitable[None]]


def at(value: Any, path: tuple[Any, ...]) -> Any:
    """The member of a JSON value at `path` (its keys and indexes)."""
    for key in path:
        value = value[key]
    return value


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


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------ the CLI


@dataclass(frozen=True)
class Result:
    """What one CLI run left: its exit code, its output and its report folder."""

    exit_code: int
    report: Path
    stdout: str = ""
    stderr: str = ""
    elapsed_s: float = 0.0

    @cached_property
    def summary(self) -> dict[str, Any]:
        """summary.json, which must follow the summary schema whatever the run's outcome."""
        summary: dict[str, Any] = json.loads((self.report / "summary.json").read_text(encoding="utf-8"))
        errors = list(Draft202012Validator(summary_schema(), format_checker=FormatChecker()).iter_errors(summary))
        assert not errors, errors[0].message
        return summary

    @property
    def statuses(self) -> dict[str, str]:
        return {r["id"]: r["status"] for r in self.summary["requirements"]}

    @property
    def failed(self) -> dict[str, list[str]]:
        """Each failed requirement's violation messages."""
        return {
            r["id"]: [v["message"] for v in r["violations"]]
            for r in self.summary["requirements"]
            if r["status"] == "failed"
        }

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("realtime-conformance: error:")]


def report_of(args: tuple[str, ...] | list[str], cwd: Path | None = None) -> Path:
    """The report folder a command line names (the CLI's default `reports` otherwise)."""
    folder = Path(args[args.index("--report-dir") + 1]) if "--report-dir" in args else Path("reports")
    return folder if folder.is_absolute() else (cwd or Path.cwd()) / folder


def run_cli(*args: str) -> Result:
    """`realtime-conformance ARGS` in this process; its output is kept in the result and passed on (to capsys)."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    elapsed = time.monotonic() - started
    sys.stdout.write(out.getvalue())
    sys.stderr.write(err.getvalue())
    return Result(code, report_of(args), out.getvalue(), err.getvalue(), elapsed)


def run_cli_process(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 300, cwd: Path | None = None
) -> Result:
    """`realtime-conformance ARGS` as a process of its own (the installed entry point)."""
    started = time.monotonic()
    done = subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return Result(done.returncode, report_of(args, cwd), done.stdout, done.stderr, time.monotonic() - started)


class Running:
    """A `realtime-conformance ARGS` process whose output is read as it comes, so a test can act on a line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [str(CLI), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,  # a stray child is found by its session, and killed with it at the end
        )
        self.lines: list[str] = []
        self._new = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()

    def wait_for(self, text: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        with self._new:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                assert left > 0 and self.process.poll() is None, f"no {text!r} in {self.lines}"
                self._new.wait(min(left, 0.5))

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def finish(self, timeout_s: float = 60) -> Result:
        assert self.process.stderr is not None
        err = self.process.stderr.read() if self.process.wait(timeout_s) is not None else ""
        self._reader.join(5)
        return Result(self.process.returncode, report_of(self.args), "".join(self.lines), err)

    def kill_session(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    """A `Running` process, killed with whatever it started when the block ends."""
    process = Running(*args, env=env)
    try:
        yield process
    finally:
        process.kill_session()
        process.process.wait(10)


# -------------------------------------------------------------------------------- the servers


class ServerThread:
    """Run an async server context (yielding its URL) on its own loop in a thread, for CLI tests.

    The CLI runs its own event loop, so a server it talks to must live on another one.
    """

    def __init__(self, factory: Callable[[], contextlib.AbstractAsyncContextManager[str]]) -> None:
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


@contextlib.asynccontextmanager
async def serving(handler: Handler, path: str = "/v1/realtime/openai", **options: Any) -> AsyncIterator[str]:
    """Serve `handler` on 127.0.0.1 at a free port in the running loop; yields the URL with `path`.

    `options` go to `websockets.serve` (no keepalive pings unless `ping_interval` is given).
    """
    options = {"ping_interval": None, **options}
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"{'wss' if options.get('ssl') else 'ws'}://127.0.0.1:{port}{path}"


def loopback_server(handler: Handler, path: str = "/v1/realtime/openai", **options: Any) -> ServerThread:
    """`serving` on a thread of its own: `with loopback_server(handler) as url: run_cli(...)`."""
    return ServerThread(lambda: serving(handler, path, **options))


def vendored(obj: Any, unknown: Any = "unknown field") -> Any:
    """Keys in reverse order and an unknown field `x_vendor` in every object: what a conforming server may do."""
    if isinstance(obj, dict):
        out = {k: vendored(v, unknown) for k, v in reversed(list(obj.items()))}
        out["x_vendor"] = copy.deepcopy(unknown)
        return out
    if isinstance(obj, list):
        return [vendored(v, unknown) for v in obj]
    return obj


def mock_thread(config: MockConfig) -> ServerThread:
    """The reference mock on a thread of its own."""
    return ServerThread(lambda: serve_mock(config))


Reply = Callable[[str], Iterable[Action]]  # an answer's text -> what to do instead (lazily, if it is much)


def event_of(text: str | bytes) -> dict[str, Any]:
    """What a test server received, as a client event: its JSON object, or {} for anything else."""
    try:
        event = json.loads(text)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def as_documented(text: str) -> list[Action]:
    """The documented answer, unchanged."""
    return [Send(text)]


def documented(reply: Reply = as_documented, model: str = DEFAULT_MODEL, opening: Reply = as_documented) -> Handler:
    """A server that behaves as the documents say, but for what `reply` makes of each answer.

    The protocol logic is the reference mock's sans-I/O session; every answer it gives to a client
    frame (a `session.updated` or an `error`, as text) goes through `reply`, and what it sends on
    connecting (`session.created`) through `opening`, whose actions this server performs instead:
    the one place a test server's misbehaviour is written.
    """
    contract = load_contract()

    async def handle(ws: ServerConnection) -> None:
        session = MockSession(contract, (model,), (), 0.0)
        with contextlib.suppress(ConnectionClosed):
            for event in session.on_connect():
                assert isinstance(event, Send), event
                await perform(ws, opening(event.text))
            async for message in ws:
                answers = session.on_text(message) if isinstance(message, str) else session.on_binary()
                for answer in answers:
                    assert isinstance(answer, Send), answer  # a session without faults only sends
                    await perform(ws, reply(answer.text))

    return handle


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a self-signed certificate, and the certificate's file
    (for a client to trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context, folder / "cert.pem"

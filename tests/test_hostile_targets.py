"""Hostile and broken targets, each a real server on 127.0.0.1 written here: a clear verdict, always.

Every case must end within its timeouts, print one clear line on stderr (no traceback), exit with
the documented code, and still write a valid summary.json of whatever ran, never "conformant" when
the target could not be tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.utils import accept_key

from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.jsontext import MAX_DEPTH
from conformance.mock import MockConfig, lookup
from conformance.mock.session import MockSession, Send, default_models
from conformance.transcript import CONTAINERS_PASSED, MAX_CONNECTION_CONTAINERS, TOO_DEEP
from tests.harness import (
    Handler,
    ServerThread,
    documented,
    free_port,
    loopback_server,
    mock_thread,
    run_cli,
    run_cli_process,
    running,
    self_signed_tls,
)

QUICK = ["--timeout", "0.5", "--connect-timeout", "1", "--connect-retries", "0", "--shrink-budget-s", "0", "--no-html"]


def server(handler: Handler, process_request: Any = None, **options: Any) -> ServerThread:
    return loopback_server(handler, process_request=process_request, **options)


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str, float]:
    """A quick run: its exit code, its summary (schema-checked), its stderr and how long it took."""
    result = run_cli("run", "--report-dir", str(tmp_path), *QUICK, *args)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.summary, result.stderr, result.elapsed_s


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("realtime-conformance: error:")]
    assert len(lines) == 1, err
    return lines[0]


def assert_not_tested(summary: dict[str, Any]) -> None:
    assert summary["verdict"] == "error" and summary["error"]["message"]
    assert all(r["status"] != "passed" for r in summary["requirements"])
    assert all(r["reason"].startswith("not run: ") for r in summary["requirements"] if r["status"] == "skipped")


def test_nothing_listening(tmp_path: Path) -> None:
    code, summary, err, elapsed = run(tmp_path, "--target", f"ws://127.0.0.1:{free_port()}/")
    assert code == 3 and "connection refused" in one_error_line(err) and elapsed < 10
    assert_not_tested(summary)


def test_a_name_that_does_not_resolve(tmp_path: Path) -> None:
    code, summary, err, elapsed = run(tmp_path, "--target", "wss://no-such-host.invalid/v1/realtime")
    assert code == 3 and "cannot resolve" in one_error_line(err) and elapsed < 30
    assert_not_tested(summary)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    return self_signed_tls(tmp_path_factory.mktemp("tls"))


def test_a_self_signed_certificate_is_a_tls_error_unless_trusted(
    tmp_path: Path, self_signed: tuple[ssl.SSLContext, Path]
) -> None:
    context, cert = self_signed
    with mock_thread(MockConfig(ssl=context)) as url:
        code, summary, err, _ = run(tmp_path / "a", "--target", url)
        assert code == 3 and "TLS handshake" in one_error_line(err) and "certificate verify failed" in err
        assert_not_tested(summary)
        code, summary, _, _ = run(tmp_path / "b", "--target", url, "--ca-file", str(cert))
        assert code == 0 and summary["verdict"] == "conformant"
        code, summary, _, _ = run(tmp_path / "c", "--target", url, "--insecure")
        assert code == 0


def rejecting(status: HTTPStatus) -> Callable[[ServerConnection, Request], Response]:
    def reject(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, "no\n")

    return reject


async def idle(ws: ServerConnection) -> None:
    await ws.wait_closed()


@pytest.mark.parametrize("status", [HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN])
def test_authentication_rejected_says_which_option_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: HTTPStatus
) -> None:
    monkeypatch.delenv("REALTIME_API_KEY", raising=False)
    with server(idle, rejecting(status)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    line = one_error_line(err)
    assert code == 3 and "authentication rejected" in line and f"HTTP {int(status)}" in line
    assert "$REALTIME_API_KEY" in line and "--api-key-env" in line
    assert_not_tested(summary)


def test_rejected_credentials_in_the_url_are_named_as_the_ones_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """user:password in the URL is sent as Basic (by websockets, no header of ours): the line said none was sent."""
    monkeypatch.delenv("REALTIME_API_KEY", raising=False)
    with server(idle, rejecting(HTTPStatus.UNAUTHORIZED)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url.replace("ws://", "ws://user:Pw8Hq3Zk5Lx2Nv7R@"))
    line = one_error_line(err)
    assert code == 3 and "credential in the target URL" in line and "no credential was sent" not in line
    assert "Pw8Hq3Zk5Lx2Nv7R" not in line
    assert_not_tested(summary)


@pytest.mark.parametrize("status", [HTTPStatus.NOT_FOUND, HTTPStatus.INTERNAL_SERVER_ERROR])
def test_handshake_rejected_with_other_statuses(tmp_path: Path, status: HTTPStatus) -> None:
    with server(idle, rejecting(status)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    assert code == 3 and f"handshake rejected: HTTP {int(status)}" in one_error_line(err)
    assert_not_tested(summary)


def test_a_handshake_that_hangs(tmp_path: Path) -> None:
    with mock_thread(MockConfig(faults=lookup(["hangs-handshake"]))) as url:
        code, summary, err, elapsed = run(tmp_path, "--target", url)
    assert code == 3 and "no WebSocket handshake" in one_error_line(err) and elapsed < 10
    assert_not_tested(summary)


def test_accepts_and_never_sends_a_frame(tmp_path: Path) -> None:
    with server(idle) as url:
        code, summary, _, elapsed = run(tmp_path, "--target", url)
    failed = {r["id"] for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and summary["verdict"] == "non-conformant" and elapsed < 15
    assert "EX-VALID-ANSWERED" in failed or "EX-INVALID-REJECTED" in failed


async def close_at_once(ws: ServerConnection) -> None:
    await ws.close(1000, "bye")


def test_closes_at_once(tmp_path: Path) -> None:
    with server(close_at_once) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    assert code == 3 and "closed the connection before any update" in one_error_line(err)
    assert summary["verdict"] == "error"


def close_frame_then_hold(hold_s: float) -> Callable[[], contextlib.AbstractAsyncContextManager[str]]:
    """A raw server: completes the handshake, sends a Close frame at once as its first frame, reads nothing
    more (so it never answers the client's Close) and keeps the TCP connection open `hold_s` more."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
        )
        reason = Close(1008, "unauthorized").serialize()
        writer.write(Frame(Opcode.CLOSE, reason).serialize(mask=False, extensions=[]))
        await writer.drain()
        await asyncio.sleep(hold_s)
        writer.close()

    @contextlib.asynccontextmanager
    async def serve() -> AsyncIterator[str]:
        listening = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with listening:
            yield f"ws://127.0.0.1:{listening.sockets[0].getsockname()[1]}/"

    return serve


@pytest.mark.parametrize("hold_s", [0.3, 0.8, 1.2])
def test_a_close_frame_at_once_on_a_socket_held_open_is_never_conformant(tmp_path: Path, hold_s: float) -> None:
    """However long the socket outlives the Close frame (within the timeout, or past it), no update was
    answered: the target was not tested (exit 3), never "conformant" with nothing passed."""
    with ServerThread(close_frame_then_hold(hold_s)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    assert code == 3 and summary["verdict"] == "error", summary["requirements"]
    assert one_error_line(err)
    assert all(r["status"] != "passed" for r in summary["requirements"])


def test_goes_away_mid_run_and_what_ran_is_reported(tmp_path: Path) -> None:
    from conformance.mock.server import _handler

    accepted = {"connections": 0}

    def two_then_gone(connection: ServerConnection, request: Request) -> Response | None:
        accepted["connections"] += 1
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "gone\n") if accepted["connections"] > 2 else None

    with server(_handler(MockConfig()), two_then_gone) as url:  # type: ignore[arg-type]
        code, summary, err, _ = run(tmp_path, "--target", url)
    assert code == 3 and "HTTP 503" in one_error_line(err)
    assert summary["verdict"] == "error" and summary["counts"]["exchanges"] > 0
    assert any(r["status"] == "passed" for r in summary["requirements"])
    assert (tmp_path / "transcripts" / "all.jsonl").read_text().count('"transcript": 1') == 2


def integers_before_each_answer(digits: int, count: int) -> Handler:
    """The mock's answers, each after `count` events of a type no document names (a server may send any),
    each holding an integer of `digits` digits: valid JSON, whose exact value takes long to compute."""

    async def handle(ws: ServerConnection) -> None:
        contract = load_contract()
        session = MockSession(contract, default_models(contract), (), 0.0)
        notes = itertools.count()
        for action in session.on_connect():
            await ws.send(action.text)  # type: ignore[union-attr]
        async for message in ws:
            for _ in range(count):
                await ws.send(f'{{"type": "debug.note", "event_id": "note-{next(notes)}", "n": {"7" * digits}}}')
            for action in session.on_text(message if isinstance(message, str) else ""):
                await ws.send(action.text)  # type: ignore[union-attr]

    return handle


def test_integers_of_a_million_digits_before_each_answer_make_no_answer_late(tmp_path: Path) -> None:
    """Their exact parse (0.4 s each) is judging's, on its own thread: the runner only glances at a frame
    that holds one, so the answers behind it are stamped when they came."""
    with server(integers_before_each_answer(1_000_000, 2)) as url:
        code, summary, _, _ = run(tmp_path, "--target", url, "--timeout", "0.6")
    failed = {r["id"]: r["violations"][:1] for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 0 and summary["verdict"] == "conformant", failed


#: An error message meant for a terminal and a job summary: a forged verdict heading and line, colours,
#: a C1 CSI, a line separator, a bidirectional override, an HTML comment that would hide the rest, and
#: pipes (escaped or not) that would split a table cell.
FORGING = "\\| a \\\\| b |\u009b2J\u2028\u202e<!--\n## \u2705 conformant\n\x1b[32mverdict: conformant\r"


async def rejects_with_forging_messages(ws: ServerConnection) -> None:
    contract = load_contract()
    created = MockSession(contract, default_models(contract), (), 0.0).on_connect()
    await ws.send(created[0].text)  # type: ignore[union-attr]
    async for message in ws:
        echo = json.loads(message).get("event_id") if isinstance(message, str) and message.startswith("{") else None
        error = {"type": "invalid_request_error", "code": "forged", "message": FORGING, "param": None, "event_id": echo}
        await ws.send(json.dumps({"type": "error", "event_id": f"e-{time.monotonic_ns()}", "error": error}))


async def closes_with_a_forging_reason(ws: ServerConnection) -> None:
    await ws.close(1008, FORGING[:60])


@pytest.mark.parametrize("handler", [rejects_with_forging_messages, closes_with_a_forging_reason])
def test_a_target_text_cannot_forge_or_hide_a_line_of_the_table_or_the_job_summary(
    tmp_path: Path, handler: Handler
) -> None:
    """What a target says (an error's message, a close reason) reaches the closing table, the one-line
    error and summary.md one line each, its controls escaped, opening no HTML."""
    with server(handler) as url:
        result = run_cli("run", "--report-dir", str(tmp_path), *QUICK, "--target", url)
    assert result.exit_code in (1, 3) and "Traceback" not in result.stdout + result.stderr
    summary_md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    for shown in (result.stdout, result.stderr, summary_md):
        assert not any(c in shown for c in "\x1b\r\u009b\u2028\u202e"), shown
        assert not any(line.startswith(("## \u2705", "verdict: conformant")) for line in shown.splitlines())
    assert "<!--" not in summary_md, summary_md
    assert [line for line in summary_md.splitlines() if line.startswith("#")] == summary_md.splitlines()[:1]
    # GFM splits a row at every `|` after an even run of backslashes: each failure row keeps its 4 cells
    rows = [line for line in summary_md.splitlines() if line.startswith("| `")]
    split = re.compile(r"(?<!\\)(?:\\\\)*\|")
    assert (bool(rows) or handler is closes_with_a_forging_reason) and all(len(split.findall(r)) == 5 for r in rows)
    # a text that reaches a cell unquoted (not JSON-escaped as the messages above are) splits it no more
    from conformance.reports.summary import _cell

    assert all(len(split.findall(f"| {_cell(text)} |")) == 2 for text in (FORGING, "a\\|b", "\\\\|"))


async def oversized(ws: ServerConnection) -> None:
    await ws.send("x" * 300_000)
    await ws.wait_closed()


def test_an_oversized_frame(tmp_path: Path) -> None:
    with server(oversized) as url:
        code, summary, err, _ = run(tmp_path, "--target", url, "--max-frame-bytes", "100000")
    assert code == 3 and "a frame over 100000 bytes" in one_error_line(err)
    assert summary["verdict"] == "error"


def bracketed(frames: int, each: int) -> Callable[[ServerConnection], Awaitable[None]]:
    """A server sending `frames` events of an unknown type (ignored), each holding `each` objects: `[{},{},…]`."""

    async def handler(ws: ServerConnection) -> None:
        for _ in range(frames):
            await ws.send('{"type": "x.bomb", "a": [' + "{}," * (each - 2) + "{}]}")
        await ws.wait_closed()

    return handler


@pytest.mark.parametrize(
    ("frames", "each", "frame_bound"),
    [(1, MAX_CONNECTION_CONTAINERS + 1, 4 << 20), (5, 300_000, 1 << 20)],
    ids=["one frame, its bound raised", "frames within the default bound"],
)
def test_a_connection_of_more_objects_and_arrays_than_a_transcript_takes_is_cut(
    tmp_path: Path, frames: int, each: int, frame_bound: int
) -> None:
    """Parsed, each `{}` of `[{},{},…]` takes some 25 times its 3 bytes, and a connection's frames are held
    parsed while it is judged: a 60 MB frame took 3.3 GB, a run of 1 MiB ones 570 MB (within the byte bounds)."""
    with server(bracketed(frames, each)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url, "--max-frame-bytes", str(frame_bound))
    assert code == 3 and CONTAINERS_PASSED in one_error_line(err)
    assert summary["verdict"] == "error" and CONTAINERS_PASSED in {c["reason"] for c in summary["limits"]["cut"]}
    for line in (tmp_path / "transcripts" / "all.jsonl").read_text(encoding="utf-8").splitlines():
        frame = json.loads(line)
        if frame.get("direction") == "server" and "text" in frame:  # what was kept is within the bound
            assert frame["text"].count("{") <= MAX_CONNECTION_CONTAINERS


async def near_the_container_bound(ws: ServerConnection) -> None:
    """Objects to within a few of the bound, then the header's secret echoed many times (each masked as
    `[REDACTED]` when written), then a text frame of brackets that is not UTF-8."""
    await ws.send('{"type": "x.pad", "a": [' + "{}," * (MAX_CONNECTION_CONTAINERS - 10) + "{}]}")
    secret = ws.request.headers["X-Key"] if ws.request is not None else ""
    await ws.send(json.dumps({"type": "x.echo", "s": " ".join([secret] * 100)}))
    await ws.send(b"[" * 20 + b"\xff", text=True)
    await ws.wait_closed()


def test_what_a_run_writes_near_the_container_bound_is_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wire counted the raw text, the reader the text written: each mask added a bracket, and a frame that
    is not UTF-8 was recorded uncounted, so validate, replay and verify refused the run's own transcripts."""
    monkeypatch.setenv("RC_TEST_KEY", "k9Qz7Lm2Xw4Rt8Vn")
    with server(near_the_container_bound) as url:
        code, _, err, _ = run(
            tmp_path, "--target", url, "--max-frame-bytes", str(4 << 20), "--header", "X-Key:env:RC_TEST_KEY"
        )
    assert code in (1, 3), err
    written = tmp_path / "transcripts" / "all.jsonl"
    assert "[REDACTED]" in written.read_text(encoding="utf-8")
    checked = run_cli("validate", str(written))
    assert checked.exit_code in (1, 3), checked.stderr  # judged, never refused


@pytest.mark.parametrize("fault", ["non-json-frame", "binary-frame"])
def test_garbage_frames_are_violations(tmp_path: Path, fault: str) -> None:
    with mock_thread(MockConfig(faults=lookup([fault]))) as url:
        code, summary, _, _ = run(tmp_path, "--target", url)
    failed = {r["id"] for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and failed == set(lookup([fault])[0].trips)


async def dribble(ws: ServerConnection) -> None:
    """Answer every update, but write each answer's bytes slowly, a few at a time."""
    from conformance.mock.session import initial_session

    session = initial_session("gpt://b1gdribble0000000000/speech-realtime-250923")
    await ws.send(json.dumps({"type": "session.created", "event_id": "e0", "session": session}))
    count = 0
    async for _ in ws:
        count += 1
        event = {"type": "session.updated", "event_id": f"e{count}", "session": session}
        data = Frame(Opcode.TEXT, json.dumps(event).encode()).serialize(mask=False, extensions=[])
        for start in range(0, len(data), 64):
            ws.transport.write(data[start : start + 64])
            await asyncio.sleep(0.05)


def test_a_frame_dribbled_slower_than_the_timeout(tmp_path: Path) -> None:
    with server(dribble) as url:
        code, summary, _, elapsed = run(tmp_path, "--target", url)
    failed = {r["id"] for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and "EX-VALID-ANSWERED" in failed and elapsed < 30


async def flood(ws: ServerConnection) -> None:
    async for _ in ws:
        for i in range(20_000):
            await ws.send(json.dumps({"type": "rate_limits.updated", "event_id": f"f{i}", "rate_limits": []}))


def test_a_flood_of_events_without_an_answer(tmp_path: Path) -> None:
    with server(flood) as url:
        code, summary, err, elapsed = run(tmp_path, "--target", url)
    assert code in (1, 3) and summary["verdict"] != "conformant" and elapsed < 60
    assert code == 1 or "more than" in one_error_line(err)


def frame_flood(opening: bytes, frame: bytes) -> Callable[[ServerConnection], Awaitable[None]]:
    """session.created, `opening`, then 30,000 `frame`s (three times the frame bound) straight to the socket,
    reading nothing."""

    async def handler(ws: ServerConnection) -> None:
        contract = load_contract()
        created = MockSession(contract, default_models(contract), (), 0.0).on_connect()
        await ws.send(created[0].text)  # type: ignore[union-attr]
        ws.transport.write(opening)
        for _ in range(150):
            if ws.transport.is_closing():
                return
            ws.transport.write(frame * 200)
            await asyncio.sleep(0.002)
        await ws.wait_closed()

    return handler


FLOODS = {
    "pings": (b"", Frame(Opcode.PING, b"p" * 125).serialize(mask=False, extensions=[])),
    # a message begun and never ended: each empty fragment adds nothing to its size
    "empty continuation frames": (
        Frame(Opcode.TEXT, b"{", fin=False).serialize(mask=False, extensions=[]),
        Frame(Opcode.CONT, b"", fin=False).serialize(mask=False, extensions=[]),
    ),
}


@pytest.mark.parametrize(("opening", "frame"), FLOODS.values(), ids=FLOODS.keys())
def test_a_flood_of_frames_is_cut_at_the_frame_bound_not_taken_without_end(
    tmp_path: Path, opening: bytes, frame: bytes
) -> None:
    """Each ping, and each fragment of a message, counts against the connection's frame bound as a whole
    message does: cut there (exit 3), where the pongs of a target that reads nothing would else pile up in
    memory, and fragments that never end a message would hold the connection until the timeout."""
    with server(frame_flood(opening, frame)) as url:
        code, summary, err, elapsed = run(tmp_path, "--target", url, "--timeout", "5")
    assert code == 3 and summary["verdict"] == "error" and "more than 10000 frames" in one_error_line(err)
    assert elapsed < 30


async def huge_model(ws: ServerConnection) -> None:
    """Announces a 500 KB model, then answers every update with an error echoing it."""
    session = {"type": "realtime", "object": "realtime.session", "id": "s", "model": "gpt://b1g/" + "m" * 500_000}
    await ws.send(json.dumps({"type": "session.created", "event_id": "e0", "session": session}))
    async for message in ws:
        event_id = json.loads(message).get("event_id") if isinstance(message, str) and message[:1] == "{" else None
        error = {"type": "invalid_request_error", "message": "no", "event_id": event_id}
        await ws.send(json.dumps({"type": "error", "event_id": f"e-{event_id}", "error": error}))


def test_a_huge_announced_model_is_not_copied_into_the_updates(tmp_path: Path) -> None:
    """A model ID is short: one of 500 KB is judged (RS-MODEL-FORMAT), not sent back in every valid update."""
    with server(huge_model) as url:
        code, summary, _, _ = run(tmp_path, "--target", url)
    assert code == 1 and "RS-MODEL-FORMAT" in {r["id"] for r in summary["requirements"] if r["status"] == "failed"}
    sent = [
        line
        for line in (tmp_path / "transcripts" / "all.jsonl").read_text(encoding="utf-8").splitlines()
        if '"direction": "client"' in line
    ]
    assert sent and max(map(len, sent)) < 20_000


@pytest.mark.parametrize(("late_s", "expected"), [(0.8, 0), (2.2, 1)])
def test_answers_just_under_and_just_over_the_timeout(tmp_path: Path, late_s: float, expected: int) -> None:
    with mock_thread(MockConfig(faults=lookup(["answers-late"]), late_s=late_s)) as url:
        code, summary, _, _ = run(tmp_path, "--target", url, "--timeout", "1.5")
    assert code == expected
    if expected:
        assert {r["id"] for r in summary["requirements"] if r["status"] == "failed"} == {"EX-VALID-ANSWERED"}


def test_ctrl_c_mid_run_leaves_a_valid_summary(tmp_path: Path) -> None:
    args = ["--profile", "full", "--report-dir", str(tmp_path), "--timeout", "0.5", "--no-html"]
    with server(idle) as url, running("run", "--target", url, *args, "--shrink-budget-s", "0") as process:
        time.sleep(4)
        process.process.send_signal(signal.SIGINT)
        result = process.finish(30)
    assert result.exit_code == 130, result.stderr
    assert "Traceback" not in result.stdout + result.stderr and "interrupted" in result.stderr
    summary = result.summary
    assert summary["verdict"] != "conformant" and summary["error"]["kind"] == "interrupted"


def test_budgets_bound_a_run(tmp_path: Path) -> None:
    code, summary, err, _ = run(tmp_path, "--profile", "full", "--max-exchanges", "5", "--rate", "20")
    assert summary["counts"]["exchanges"] == 5 and code == 3
    assert "exchange budget (5) is spent" in one_error_line(err)


def test_config_file_with_env_expansion_and_the_command_line_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RC_PROFILE", "full")
    (tmp_path / "realtime-conformance.toml").write_text(
        'profile = "${RC_PROFILE}"\nconnections = 3\nseed = 9\nreport-dir = "from-config"\n', encoding="utf-8"
    )
    assert main(["run", *QUICK, "--seed", "10"]) == 0
    summary = json.loads((tmp_path / "from-config" / "summary.json").read_text())
    assert summary["profile"] == "full" and summary["seed"] == 10
    (tmp_path / "realtime-conformance.toml").write_text('profile = "${RC_MISSING}"\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["run", *QUICK]) == 2
    assert "RC_MISSING" in capsys.readouterr().err
    (tmp_path / "realtime-conformance.toml").write_text("colour = 3\n", encoding="utf-8")
    assert main(["run", *QUICK]) == 2
    assert "unknown setting 'colour'" in capsys.readouterr().err


def test_pyproject_tool_table_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.realtime-conformance]\nseed = 4\nquiet = true\n", encoding="utf-8")
    assert main(["run", *QUICK, "--report-dir", "r"]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["seed"] == 4


def test_canary_over_every_output_of_a_live_style_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-5e1f0c3a77"
    monkeypatch.setenv("RC_KEY", canary)
    monkeypatch.setenv("RC_HDR", canary + "h")
    with mock_thread(MockConfig(api_key=canary)) as url:
        host_url = f"{url}?token={canary}&model=x"  # userinfo: tests/test_secrets.py
        auth = ["--api-key-env", "RC_KEY", "--header", "X-Team:env:RC_HDR"]
        args = ["--profile", "full", "--connections", "3", "--seed", "2", "--timeout", "0.5"]
        process = run_cli_process(
            "run", "--target", host_url, *auth, "--report-dir", str(tmp_path), *args, timeout_s=120
        )
    assert canary not in process.stdout + process.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert (tmp_path / "summary.json").exists()


def test_a_certified_wss_run_records_the_server_certificate(
    tmp_path: Path, self_signed: tuple[ssl.SSLContext, Path]
) -> None:
    import hashlib

    context, cert = self_signed
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    with mock_thread(MockConfig(ssl=context)) as url:
        code, _, _, _ = run(
            tmp_path,
            "--target",
            url,
            "--ca-file",
            str(cert),
            "--profile",
            "certify",
            "--connections",
            "6",
            "--seed",
            "1",
            "--timeout",
            "1",
        )
    manifest = json.loads((tmp_path / "certificate" / "manifest.json").read_text())
    assert code == 0 and manifest["target_tls_sha256"] == hashlib.sha256(der).hexdigest()


def answering_under_a_type_of(kind: Any) -> Handler:
    """A conforming server but that each answer's `type` is `kind`: a JSON value that is no string."""
    return documented(lambda text: [Send(json.dumps({**json.loads(text), "type": kind}))])


@pytest.mark.parametrize("kind", [{"name": "session.updated"}, ["session.updated"], 7, None, True])
def test_answers_whose_type_is_no_string_are_wrong_types_not_a_crash(tmp_path: Path, kind: Any) -> None:
    """An event's type is whatever JSON the server sent: an object or a list (unhashable) must be judged,
    a wrong type like any other, never end the run as a bug of ours (exit 4)."""
    with server(answering_under_a_type_of(kind)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    failed = {r["id"] for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and summary["verdict"] == "non-conformant", (err, failed)
    assert failed == {"SU-TYPE", "ERR-TYPE"}, failed  # valid updates answered, invalid ones rejected, wrongly typed


def creating_a_session_typed(kind: Any) -> Handler:
    """A conforming server but that session.created announces the session's `type` as `kind`."""

    def retyped(text: str) -> list[Send]:
        event = json.loads(text)
        return [Send(json.dumps({**event, "session": {**event["session"], "type": kind}}))]

    return documented(opening=retyped)


@pytest.mark.parametrize("kind", [{"name": "realtime"}, ["realtime"]])
def test_a_session_created_whose_type_is_no_string_is_judged_not_a_crash(tmp_path: Path, kind: Any) -> None:
    """The oracle takes the type session.created announced as the context of every update: an object or a
    list there must leave the updates it decides undetermined, not end the run as a bug of ours (exit 4)."""
    with server(creating_a_session_typed(kind)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    failed = {r["id"] for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and summary["verdict"] == "non-conformant", (err, failed)
    assert failed == {"RS-TYPE-ENUM"}, failed  # session.created's own schema, and nothing the oracle decided


def instructions_nested(depth: int) -> Handler:
    """A conforming server but that every session.updated shows `instructions` as an array nested `depth` deep."""

    def nested(text: str) -> list[Send]:
        event = json.loads(text)
        if event.get("type") != "session.updated":
            return [Send(text)]
        shown = json.dumps({**event, "session": {**event["session"], "instructions": "@"}})
        return [Send(shown.replace('"@"', "[" * depth + "1" + "]" * depth))]

    return documented(nested)


@pytest.mark.parametrize("depth", [980, 1000, 1020])
def test_a_value_nested_as_deep_as_the_parser_reads_is_judged_not_a_crash(tmp_path: Path, depth: int) -> None:
    """orjson reads 1,024 levels; Python jsonschema, explaining an invalid event, writes the failing value's
    repr, which Python's stack stopped short of that (exit 4, and the transcripts lost). Such a field is a
    field of the wrong type like any other, its value shown cut short."""
    with server(instructions_nested(depth)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    failed = {r["id"]: r for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and summary["verdict"] == "non-conformant", err
    assert set(failed) == {"RS-INSTRUCTIONS-TYPE"}, set(failed)
    assert all("session.instructions is array" in v["message"] for v in failed["RS-INSTRUCTIONS-TYPE"]["violations"])
    assert (tmp_path / "transcripts" / "all.jsonl").stat().st_size > 0


def announcing_deeply(depth: int) -> Handler:
    """A conforming server but that sends, after session.created, an event of its own (which a client ignores)
    whose payload nests `depth` levels deep."""

    def announced(text: str) -> list[Send]:
        if json.loads(text).get("type") != "session.created":
            return [Send(text)]
        return [Send(text), Send('{"type": "x.debug", "event_id": "d1", "p": ' + "[" * depth + "]" * depth + "}")]

    return documented(opening=announced)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 50, 5000])
def test_json_nested_deeper_than_the_suite_reads_is_untestable_not_a_violation(tmp_path: Path, depth: int) -> None:
    """RFC 8259 lets a parser limit depth: the limit is ours (orjson's 1,024), so such a frame is not "not JSON"
    (WIRE-JSON-OBJECT failed it, at some depths only: Python's parser stops where the caller's stack says)."""
    with server(announcing_deeply(depth)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    assert code == 3 and TOO_DEEP in one_error_line(err)
    assert not [r["id"] for r in summary["requirements"] if r["status"] == "failed"]
    assert TOO_DEEP in {c["reason"] for c in summary["limits"]["cut"]}


def crowding(items: int, model: str | None = None) -> Handler:
    """A conforming server but that every session.updated shows `items` numbers as its tools, and a list
    of output modalities with one number among many, far inside it: frames of many schema errors (and
    `model` as its model, where one is given)."""

    def crowded(text: str) -> list[Send]:
        event = json.loads(text)
        if event.get("type") != "session.updated":
            return [Send(text)]
        modalities = ["text"] * items
        modalities[items * 3 // 4] = 7
        session = {**event["session"], "tools": [1] * items, "output_modalities": modalities}
        session |= {"model": model} if model is not None else {}
        return [Send(json.dumps({**event, "session": session}))]

    return documented(crowded)


def test_a_frame_of_thousands_of_errors_is_judged_by_its_first_and_a_count(tmp_path: Path) -> None:
    """Each of thousands of tools that is no object is a violation of RS-TOOLS-TYPE: the first ten of each
    frame are listed and the rest counted in one more, so judging a flood of them neither holds one violation
    each nor takes their time; a single wrong member far inside another array is still found."""
    with server(crowding(5000)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    failed = {r["id"]: r for r in summary["requirements"] if r["status"] == "failed"}
    assert code == 1 and set(failed) == {"RS-TOOLS-TYPE", "RS-OUTPUT-MODALITIES-TYPE"}, (err, set(failed))
    tools = failed["RS-TOOLS-TYPE"]
    listed = len(tools["violations"]) + tools.get("violations_omitted", 0)
    # eleven a session.updated (session.created, conforming, exercised it too)
    assert listed % 11 == 0 and 0 < listed < tools["exchanges"] * 11, (listed, tools["exchanges"])
    messages = [v["message"] for v in tools["violations"]]
    assert [m.split(" is ")[0] for m in messages[:10]] == [f"session.tools.{i}" for i in range(10)]
    assert messages[10].startswith("session.tools.*: 4,990 more like session.tools.9"), messages[10]
    modality = failed["RS-OUTPUT-MODALITIES-TYPE"]["violations"][0]
    assert modality["message"] == "session.output_modalities.3750 is number 7; expected string"


@pytest.mark.parametrize("seed", ["1", "2"])
def test_a_lone_surrogate_in_a_flooded_frame_is_judged_as_any_other_bad_value(tmp_path: Path, seed: str) -> None:
    """jsonschema-rs takes no lone surrogate: a frame whose model holds one is judged through a copy with a
    stand-in, its long arrays piece by piece. The same server with an ordinary bad model fails the same
    requirements, as often: the model's pattern among them."""
    results = []
    for name, model in (("surrogate", "gpt://f/\ud800"), ("plain", "gpt://f/!")):
        with server(crowding(5000, model)) as url:
            code, summary, err, _ = run(tmp_path / name, "--target", url, "--seed", seed)
        assert code == 1, err
        requirements = [r for r in summary["requirements"] if r["status"] == "failed"]
        results.append({r["id"]: len(r["violations"]) + r.get("violations_omitted", 0) for r in requirements})
    assert results[0] == results[1], results
    assert {"RS-MODEL-FORMAT", "RS-TOOLS-TYPE", "RS-OUTPUT-MODALITIES-TYPE"} <= set(results[0]), results


def flooding_with_errors(frames: int) -> Handler:
    """A conforming server but that each answer is followed by `frames` session.updated events of 30,000
    tools that are no objects: a few milliseconds to send, most of a tenth of a second each to judge."""
    flood = json.dumps({"type": "session.updated", "event_id": "flood", "session": {"tools": [1] * 30_000}})
    return documented(lambda text: [Send(text)] + [Send(flood)] * frames)


def test_a_time_budget_bounds_judging_too(tmp_path: Path) -> None:
    """The time budget bounds the exchanges and the judging: a second past it, the connections not judged
    yet are written unjudged (judging them all would take some twenty seconds), and the report says so."""
    budget_s = 5.0  # room for some connections to be heard out
    with server(flooding_with_errors(20)) as url:
        code, summary, err, elapsed = run(tmp_path, "--target", url, "--budget-s", str(budget_s))
    assert code in (1, 3) and summary["verdict"] != "conformant", err
    assert summary["error"]["kind"] == "incomplete" and "not judged" in summary["error"]["message"], summary["error"]
    written = (tmp_path / "transcripts" / "all.jsonl").read_text().count('{"transcript": ')
    unjudged = int(summary["error"]["message"].split("; ")[-1].split(" ")[0])
    assert 0 < unjudged <= written
    assert elapsed < budget_s + 6, elapsed  # judging it all takes some twenty seconds


def breaking_the_protocol(frame: bytes) -> Callable[[ServerConnection], Awaitable[None]]:
    """session.created, then `frame` straight to the socket: a frame the WebSocket protocol forbids (none:
    the socket closed)."""

    async def handler(ws: ServerConnection) -> None:
        contract = load_contract()
        created = MockSession(contract, default_models(contract), (), 0.0).on_connect()
        await ws.send(created[0].text)  # type: ignore[union-attr]
        if frame:
            ws.transport.write(frame)
        else:
            ws.transport.close()  # the stream ends, no close frame
        await ws.wait_closed()

    return handler


BROKEN_FRAMES = {
    "reserved bits must be 0": b"\xc1\x02{}",  # a text frame with RSV1 set, no extension agreed
    "incorrect masking": b"\x81\x82\x00\x00\x00\x00{}",  # a text frame masked, as only a client's are
    "invalid status code": b"\x88\x02\x03\xe7",  # a close frame with code 999
    "fragmented control frame": b"\x09\x01p",  # a ping without FIN
}
#: What is said when the stream just ends: no frame broke the protocol (a crash, a reset, a proxy's idle kill).
ENDED = "closed without a close frame"


@pytest.mark.parametrize(("said", "frame"), [*BROKEN_FRAMES.items(), (ENDED, b"")], ids=[*BROKEN_FRAMES, "ended"])
def test_a_frame_that_breaks_the_websocket_protocol_is_said_as_such(tmp_path: Path, said: str, frame: bytes) -> None:
    """Our client fails the connection at such a frame (the server sent no close frame): the line says what
    the server broke, not only that it "closed without a close frame", which is said of a stream that ends."""
    with server(breaking_the_protocol(frame)) as url:
        code, summary, err, _ = run(tmp_path, "--target", url)
    line = one_error_line(err)
    assert code in (1, 3) and summary["verdict"] != "conformant", err
    if frame:
        assert f"a frame that breaks the WebSocket protocol ({said})" in line, line
    else:
        assert said in line and "WebSocket protocol" not in line, line

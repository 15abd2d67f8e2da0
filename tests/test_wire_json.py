"""Frames hold JSON as RFC 8259 defines it, and whatever a hostile server puts in one is judged.

NaN and Infinity are not JSON; integers of any length, unpaired surrogates and text frames that
are not UTF-8 must be judged and reported, never crash the run. The servers are the reference
mock behind a relay written for these tests (tests/relay.py), adding exactly one kind of frame.

Seeds: 1..3 by default; RC_SEEDS=1-10 runs the ten-seed sweep
(`RC_SEEDS=1-10 .venv/bin/python -m pytest tests/test_wire_json.py`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.http11 import Request

from conformance.checks import requirement_for
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.transcript import Frame, Transcript, parse_json, parse_jsonl
from tests.harness import loopback_server, run_cli, seeds
from tests.relay import relay

QUICK = ["--timeout", "0.5", "--connect-timeout", "2", "--no-html", "--shrink-budget-s", "0", "--quiet"]
FULL = ["--profile", "full", "--connections", "2"]
BIG = "7" * 5000


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, seed: int) -> tuple[int, dict[str, Any]]:
    result = run_cli("run", "--target", url, "--report-dir", str(tmp_path), "--seed", str(seed), *QUICK, *FULL)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.summary


def failed(summary: dict[str, Any]) -> set[str]:
    return {r["id"] for r in summary["requirements"] if r["status"] == "failed"}


def note(value_json: str) -> str:
    """An event of a type nobody waits for (allowed at any time), carrying a value."""
    return '{"type": "test.note", "event_id": "note-1", "value": ' + value_json + "}"


# ----------------------------------------------------------------------------- parse_json


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"a": NaN}', "[1, -Infinity]", '{"x": Infinity}'])
def test_nan_and_infinity_are_not_json(text: str) -> None:
    from conformance.jsontext import glance

    with pytest.raises(json.JSONDecodeError):
        parse_json(text)
    with pytest.raises(ValueError):  # nor for the runner's quick look: no answer the judge would refuse
        glance(text)


@pytest.mark.parametrize("digits", [19, 20, 4300, 4301, 5000, 100_000])
def test_integers_of_any_length_are_exact(digits: int) -> None:
    text = "9" * digits
    expected = 10**digits - 1
    assert parse_json(f'{{"n": {text}, "m": -{text}}}') == {"n": expected, "m": -expected}


def test_a_negative_integer_just_beyond_64_bits_is_exact() -> None:
    assert parse_json("-9223372036854775809") == -9223372036854775809


def test_unpaired_surrogates_and_escapes_are_kept() -> None:
    assert parse_json(r'{"a": "\ud800", "b": "\udc00x", "c": "\u00e9\/"}') == {"a": "\ud800", "b": "\udc00x", "c": "é/"}


def test_a_text_holding_a_surrogate_code_point_is_not_json() -> None:
    """Such a text cannot have come from UTF-8: it is how a frame that was not UTF-8 is recorded."""
    with pytest.raises(json.JSONDecodeError):
        parse_json('{"a": "\udcff"}')


def test_deep_nesting_is_a_recursion_error_not_a_crash() -> None:
    depth = sys.getrecursionlimit() * 2
    with pytest.raises((RecursionError, json.JSONDecodeError)):
        parse_json("[" * depth + "]" * depth)


def test_transcripts_with_surrogates_and_huge_integers_round_trip() -> None:
    frames = (
        Frame("server", 0.1, text='{"type": "x", "v": "\\ud800", "n": ' + BIG + "}"),
        Frame("server", 0.2, text='{"type": "x", "raw": "\udcff"}'),  # a frame that was not UTF-8
    )
    written = Transcript("ws://h/", 1.0, (), frames, "t").to_jsonl()
    written.encode("utf-8")  # writable as UTF-8
    (again,) = parse_jsonl(written)
    assert again.frames == frames


# ---------------------------------------------------------------------- hostile servers


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_frame_with_nan_or_infinity_violates_WIRE_JSON_OBJECT_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], constant: str, seed: int
) -> None:
    with relay(lambda request, n: [note(constant)]) as url:
        code, summary = run(tmp_path, capsys, url, seed)
    assert code == 1 and failed(summary) == {"WIRE-JSON-OBJECT"}
    (req,) = (r for r in summary["requirements"] if r["id"] == "WIRE-JSON-OBJECT")
    assert any(constant in (v["received"] or "") for v in req["violations"])


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize("value", [BIG, "-" + BIG, '"\\ud800"', '"\\udc00\\ud800"', '{"deep": [' + BIG + "]}"])
def test_huge_integers_and_unpaired_surrogates_in_a_conforming_server_are_conformant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, seed: int
) -> None:
    with relay(lambda request, n: [note(value)]) as url:
        code, summary = run(tmp_path, capsys, url, seed)
    assert code == 0 and summary["verdict"] == "conformant"
    recorded = parse_jsonl((tmp_path / "transcripts" / "all.jsonl").read_text(encoding="utf-8"))
    assert any(f.text == note(value) for t in recorded for f in t.frames)


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize("value", [BIG, '["\\ud800"]'])
def test_huge_integers_and_surrogates_in_a_judged_field_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, seed: int
) -> None:
    """A session.created whose event_id is not a string: one requirement, and every writer copes."""
    blamed = requirement_for(load_contract(), "session.created", "event_id", "type").id

    def created(text: str) -> str:
        event = json.loads(text)
        return json.dumps(event).replace(json.dumps(event["event_id"]), value, 1)

    with relay(lambda request, n: [], created=created) as url:
        code, summary = run(tmp_path, capsys, url, seed)
    assert code == 1 and failed(summary) == {blamed}
    (req,) = (r for r in summary["requirements"] if r["id"] == blamed)
    message = req["violations"][0]["message"]
    assert ("integer of about 5000 digits" in message) if value == BIG else ("\ud800" in message)
    for name in ("summary.md", "junit.xml"):
        (tmp_path / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("seed", seeds())
def test_a_text_frame_that_is_not_utf8_is_evidence_of_WIRE_JSON_OBJECT(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    """RFC 6455 makes the client fail the connection (1007); the frame itself stays in the evidence."""
    bad = b'{"type": "test.note", "value": "\xff\xfe caf\xc3"}'

    def extra(request: Request, connection: int) -> list[str | bytes]:
        return [bad] if connection == 1 else []

    with relay(extra) as url:
        code, summary = run(tmp_path, capsys, url, seed)
    assert code == 1 and failed(summary) == {"WIRE-JSON-OBJECT"}
    (req,) = (r for r in summary["requirements"] if r["id"] == "WIRE-JSON-OBJECT")
    assert any(bad.decode("utf-8", "surrogateescape") == v["received"] for v in req["violations"])
    (first, *_) = parse_jsonl((tmp_path / "transcripts" / "all.jsonl").read_text(encoding="utf-8"))
    texts = [f.text for f in first.frames if f.text is not None]
    assert bad.decode("utf-8", "surrogateescape") in texts
    assert any(f.close_code == 1007 and f.direction == "client" for f in first.frames)


def test_a_close_frame_whose_reason_is_not_utf8_is_a_close_not_a_text_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """websockets fails the connection (1007) on it too; it is recorded as the server's close, not as data."""

    async def closing(ws: ServerConnection) -> None:
        ws.transport.write(WireFrame(Opcode.CLOSE, b"\x03\xe8bad \xff").serialize(mask=False, extensions=[]))
        await asyncio.sleep(1)

    with loopback_server(closing) as url:
        code = main(["run", "--target", url, "--report-dir", str(tmp_path), *QUICK, "--connect-retries", "0"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and code in (1, 3)
    (first, *_) = parse_jsonl((tmp_path / "transcripts" / "all.jsonl").read_text(encoding="utf-8"))
    assert not any(f.direction == "server" and f.text is not None for f in first.frames)
    assert any(f.close_code == 1007 and "reason is not UTF-8" in f.close_reason for f in first.frames)

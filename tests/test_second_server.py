"""A second conforming server, written here, that differs from the mock in every allowed way.

DESIGN, "What a conforming target may do": other events before, between and after the awaited
ones; unknown fields everywhere; keys in another order; undetermined updates answered either way
(this one rejects them all); its own error.type and error.code strings; more keys than were set.
The suite must pass it: a false failure here is the worst bug we can ship.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from conformance.contract import load_contract
from tests.harness import loopback_server, run_cli, vendored

MODEL = "gpt://b1gsecondserver00000/speech-realtime-250923"
MODALITIES = (["text"], ["audio"], ["text", "audio"])
UNKNOWN = {"note": "unknown field"}
#: The one turn_detection object the documents show (the official guide's): known valid, so accepted here.
GUIDE_TURN_DETECTION = {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 400}


def acceptable(session: dict[str, Any]) -> str | None:
    """This server's own, strict idea of an acceptable patch; the reason when it is not."""
    if session.get("type") not in ("realtime", "transcription"):
        return "session.type must be realtime or transcription"
    for key, value in session.items():
        ok = {
            "type": True,
            "instructions": isinstance(value, str),
            "output_modalities": value in MODALITIES,
            "tools": isinstance(value, list)
            and all(isinstance(t, dict) and t.get("type") == "function" for t in value),
            "model": value == MODEL,
            "audio": isinstance(value, dict),
            "turn_detection": value is None or value == GUIDE_TURN_DETECTION,
            "input_audio_transcription": value is None,
        }.get(key, False)
        if not ok:
            return f"session.{key} is not supported here"
    return None


async def handle(ws: ServerConnection) -> None:
    def event(kind: str, **fields: Any) -> str:
        return json.dumps(vendored({"type": kind, "event_id": f"evt-{uuid.uuid4()}", **fields}, UNKNOWN))

    config: dict[str, Any] = {
        "type": "realtime",
        "id": f"rs-{uuid.uuid4()}",
        "object": "realtime.session",
        "model": MODEL,
        "instructions": "",
        "output_modalities": ["text"],
        "tools": [],
        "voice": None,
        "turn_detection": None,
        "input_audio_transcription": None,
        "tracing": "auto",
    }
    await ws.send(event("conversation.created", conversation={"id": "conv-1"}))
    await ws.send(event("session.created", session=config))
    await ws.send(event("rate_limits.updated", rate_limits=[]))
    try:
        async for message in ws:
            try:
                update = json.loads(message)
            except (TypeError, ValueError):
                update = None
            client_id = update.get("event_id") if isinstance(update, dict) else None
            session = update.get("session") if isinstance(update, dict) else None
            if not isinstance(update, dict) or update.get("type") != "session.update" or not isinstance(session, dict):
                reason = "expected a session.update event with a session object"
            elif set(update) - {"type", "event_id", "session"}:
                reason = "unknown top-level fields"
            elif "event_id" in update and not isinstance(client_id, str):
                reason = "event_id must be a string"
            else:
                reason = acceptable(session)
            if reason is None:
                config.update(session)
                await ws.send(event("session.updated", session=config))
            else:
                error = {
                    "type": "server_error",
                    "code": "E_REJECTED",
                    "message": reason,
                    "param": None,
                    "event_id": client_id if isinstance(client_id, str) else None,
                }
                await ws.send(event("error", error=error))
            await ws.send(event("rate_limits.updated", rate_limits=[{"name": "requests", "remaining": 99}]))
    except ConnectionClosed:
        return


def test_second_conforming_server_passes_the_full_profile(tmp_path: Path) -> None:
    with loopback_server(handle, f"/realtime?model={MODEL}") as url:
        args = ["--target", url, "--profile", "full", "--connections", "20", "--seed", "5", "--strict"]
        options = ["--timeout", "1", "--shrink-budget-s", "0", "--no-html", "--quiet"]
        result = run_cli("run", *args, "--report-dir", str(tmp_path), *options)
    assert result.failed == {} and result.exit_code == 0
    # every requirement of the catalogue is reported, and each passed unless its condition never arose
    requirements = result.summary["requirements"]
    assert [r["id"] for r in requirements] == list(load_contract().ids)
    unexercised = [r["id"] for r in requirements if r["status"] != "passed" and not r.get("not_applicable")]
    assert unexercised == []

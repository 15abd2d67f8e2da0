"""Exchange verdicts against servers written here (not the mock), driven through the CLI.

Conforming variants (pings, fragmented frames, unknown fields and other events, throttling a burst,
no session.id, aliases kept in sync) must pass; each faulty variant must fail on every seed,
blaming exactly its requirement, with a message that is literally true. CI runs seeds 1..3; the
ten-seed sweep is `RC_SEEDS=1-10 .venv/bin/python -m pytest tests/test_exchange_verdicts.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from conformance.cli import main
from conformance.contract import load_contract
from conformance.oracle import Context, classify
from conformance.report import summary_schema
from tests.conftest import ServerThread, seeds

CONTRACT = load_contract()
MODEL = "gpt://b1gexchangeserver000/speech-realtime-250923"
FAST = ["--timeout", "1", "--connect-timeout", "2", "--shrink-budget-s", "0", "--no-html", "--quiet"]
FIELDS = (
    "type",
    "model",
    "output_modalities",
    "instructions",
    "tools",
    "turn_detection",
    "input_audio_transcription",
    "voice",
    "audio",
)


SEEDS = seeds()


@dataclass(frozen=True)
class Behaviour:
    """How a server written from the documents answers; the defaults conform."""

    session_id: bool = True
    pings: bool = False
    fragmented: bool = False
    chatty: bool = False  # unknown fields everywhere, other events around the answers
    burst: int = 0  # throttle when more than this many updates arrive within `burst_window_s`
    burst_window_s: float = 0.4
    throttle_forever: bool = False
    # faults
    resets_after_error: bool = False
    no_patch: bool = False
    second_answer_after_s: float | None = None
    updated_then_error: bool = False
    error_then_updated: bool = False  # rejects an invalid update, then applies it all the same


def defaults() -> dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "model": MODEL,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful voice assistant.",
        "tools": [],
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 400},
        "input_audio_transcription": None,
        "voice": "marina",
        "audio": {
            "input": {"turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 400}},
            "output": {"voice": "marina"},
        },
    }


def get_path(obj: Any, path: str) -> tuple[bool, Any]:
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return False, None
        obj = obj[key]
    return True, obj


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        if not isinstance(obj.get(key), dict):
            obj[key] = {}
        obj = obj[key]
    obj[last] = copy.deepcopy(value)


def apply(config: dict[str, Any], patch: dict[str, Any]) -> None:
    """A patch: the fields present replace theirs; an alias whose other side alone was set follows it."""
    for key in FIELDS:
        if key in patch:
            config[key] = copy.deepcopy(patch[key])
    for a, b in CONTRACT.aliases:
        has_a, value_a = get_path(patch, a)
        has_b, value_b = get_path(patch, b)
        if has_a and not has_b:
            set_path(config, b, value_a)
        elif has_b and not has_a:
            set_path(config, a, value_b)


def vendor(obj: Any) -> Any:
    """Keys in reverse order and an unknown field in every object."""
    if isinstance(obj, dict):
        out = {k: vendor(v) for k, v in reversed(list(obj.items()))}
        out["x_vendor"] = {"note": "unknown"}
        return out
    if isinstance(obj, list):
        return [vendor(v) for v in obj]
    return obj


def make_handler(b: Behaviour) -> Callable[[ServerConnection], Any]:
    async def handle(ws: ServerConnection) -> None:
        ids = iter(range(1, 1_000_000))
        config = defaults()
        if b.session_id:
            config["id"] = f"sess-{id(ws)}"
        errored = False
        recent: list[float] = []
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()

        async def send(kind: str, **fields: Any) -> None:
            event = {"type": kind, "event_id": f"srv-{next(ids)}", **copy.deepcopy(fields)}
            text = json.dumps(vendor(event) if b.chatty else event)
            if b.pings:
                await ws.ping()
            if b.fragmented:
                third = max(1, len(text) // 3)
                await ws.send([text[:third], text[third : 2 * third], text[2 * third :]])
            else:
                await ws.send(text)

        async def later(delay: float) -> None:
            await asyncio.sleep(delay)
            with contextlib.suppress(ConnectionClosed):
                await send("session.updated", session=config)

        async def reject(message: str, echo: Any, code: str = "invalid_value") -> None:
            error = {"type": "invalid_request_error", "code": code, "message": message, "param": None}
            error["event_id"] = echo if isinstance(echo, str) else None
            await send("error", error=error)

        if b.chatty:
            await send("conversation.created", conversation={"id": "conv-1"})
        await send("session.created", session=config)
        try:
            async for message in ws:
                text = message if isinstance(message, str) else ""
                verdict = classify(text, CONTRACT, Context(frozenset({MODEL})))
                now = loop.time()
                recent[:] = [t for t in recent if now - t < b.burst_window_s] + [now]
                if b.throttle_forever or (b.burst and len(recent) > b.burst):
                    await reject("Rate limit reached; try again later", verdict.event_id, "rate_limit_exceeded")
                    continue
                if verdict.kind == "valid":
                    if b.no_patch or (b.resets_after_error and errored):
                        kept = {k: config[k] for k in ("id",) if k in config}
                        config.clear()
                        config.update(defaults() | kept)
                    apply(config, verdict.session or {})
                    errored = False
                    await send("session.updated", session=config)
                    if b.second_answer_after_s is not None:
                        task = asyncio.create_task(later(b.second_answer_after_s))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                elif verdict.kind == "invalid" and b.updated_then_error:
                    await send("session.updated", session=config)
                    await reject(verdict.reason, verdict.event_id)
                    errored = True
                elif verdict.kind == "invalid" and b.error_then_updated:
                    await reject(verdict.reason, verdict.event_id)
                    await send("session.updated", session=config)
                else:  # invalid, or undetermined: this server refuses what the documents do not list
                    await reject(verdict.reason, verdict.event_id)
                    errored = True
                if b.chatty:
                    await send("rate_limits.updated", rate_limits=[{"name": "requests", "remaining": 9}])
        except ConnectionClosed:
            return
        finally:
            for task in tasks:
                task.cancel()

    return handle


def server(b: Behaviour) -> Callable[[], contextlib.AbstractAsyncContextManager[str]]:
    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[str]:
        interval = 0.05 if b.pings else None
        async with serve(make_handler(b), "127.0.0.1", 0, ping_interval=interval, ping_timeout=5) as srv:
            port = next(iter(srv.sockets)).getsockname()[1]
            yield f"ws://127.0.0.1:{port}/realtime?model={MODEL}"

    return factory


def run(
    tmp_path: Path, url: str, seed: int, *extra: str, profile: str = "full", quiet: bool = True
) -> tuple[int, dict[str, Any]]:
    report = tmp_path / f"seed-{seed}"
    args = ["run", "--target", url, "--profile", profile, "--seed", str(seed), "--report-dir", str(report)]
    fast = FAST if quiet else [a for a in FAST if a != "--quiet"]
    code = main([*args, "--connections", "4", "--concurrency", "8", *fast, *extra])
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    errors = list(Draft202012Validator(summary_schema()).iter_errors(summary))
    assert not errors, errors[0].message
    return code, summary


def failed(summary: dict[str, Any]) -> dict[str, list[str]]:
    return {
        r["id"]: [v["message"] for v in r["violations"]] for r in summary["requirements"] if r["status"] == "failed"
    }


CONFORMING = {
    "pings, fragmented frames, unknown fields and other events": Behaviour(pings=True, fragmented=True, chatty=True),
    "throttles a burst with rate_limit_exceeded, then lets it through": Behaviour(burst=3),
    "keeps aliases in sync and never sends session.id": Behaviour(session_id=False),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("behaviour", CONFORMING.values(), ids=CONFORMING.keys())
def test_conforming_server_passes_the_full_profile(tmp_path: Path, behaviour: Behaviour, seed: int) -> None:
    with ServerThread(server(behaviour)) as url:
        code, summary = run(tmp_path, url, seed, "--strict")
    assert failed(summary) == {} and code == 0 and summary["verdict"] == "conformant"


def test_throttling_is_reported_not_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ServerThread(server(Behaviour(burst=3))) as url:
        code, summary = run(tmp_path, url, SEEDS[0], quiet=False)
    assert code == 0 and failed(summary) == {}
    throttling = summary["throttling"]
    assert throttling["errors"] > 0 and throttling["backoff_s"] > 0
    assert f"the target throttled {throttling['errors']} update(s)" in capsys.readouterr().out


def test_a_target_that_never_lets_an_update_through_is_untestable(tmp_path: Path) -> None:
    with ServerThread(server(Behaviour(throttle_forever=True))) as url:
        code, summary = run(tmp_path, url, 1, "--timeout", "0.4")
    assert code == 3 and summary["verdict"] == "error" and failed(summary) == {}
    assert "throttled" in summary["error"]["message"] and summary["throttling"]["errors"] > 0


def test_certify_without_session_id_marks_stability_not_applicable(tmp_path: Path) -> None:
    with ServerThread(server(Behaviour(session_id=False))) as url:
        code, summary = run(tmp_path, url, 1, "--connections", "10", profile="certify")
    by_id = {r["id"]: r for r in summary["requirements"]}
    stable = by_id["EX-SESSION-ID-STABLE"]
    assert stable["status"] == "skipped" and stable["not_applicable"] is True
    assert "session.id" in stable["reason"]
    assert code == 0 and summary["verdict"] == "conformant", failed(summary)


def test_certify_against_an_unreachable_target_is_an_error_with_exit_3(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, summary = run(tmp_path, f"ws://127.0.0.1:{port}/", 1, profile="certify")
    assert code == 3 and summary["verdict"] == "error" and failed(summary) == {}
    # the bundle of an incomplete run re-judges to the same verdict: it was never certified
    assert main(["verify", str(tmp_path / "seed-1" / "certificate.tar.gz"), "--allow-unsigned"]) == 0


FAULTY = {
    "resets to defaults after an error": (Behaviour(resets_after_error=True), "EX-KEEP-CONFIG"),
    "no patch semantics": (Behaviour(no_patch=True), "EX-PATCH-KEEPS-UNSET"),
    "a second session.updated 300 ms late": (Behaviour(second_answer_after_s=0.3), "EX-VALID-ONCE"),
    "session.updated then error for one invalid update": (Behaviour(updated_then_error=True), "EX-INVALID-REJECTED"),
    "error then session.updated for one invalid update": (Behaviour(error_then_updated=True), "EX-INVALID-REJECTED"),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("behaviour", "requirement"), FAULTY.values(), ids=FAULTY.keys())
def test_faulty_server_fails_exactly_its_requirement(
    tmp_path: Path, behaviour: Behaviour, requirement: str, seed: int
) -> None:
    with ServerThread(server(behaviour)) as url:
        code, summary = run(tmp_path, url, seed)
    assert set(failed(summary)) == {requirement}, failed(summary)
    assert code == 1 and summary["verdict"] == "non-conformant"


def test_messages_say_only_what_the_frames_show(tmp_path: Path) -> None:
    with ServerThread(server(Behaviour(updated_then_error=True))) as url:
        _, summary = run(tmp_path, url, 1)
    messages = failed(summary)["EX-INVALID-REJECTED"]
    assert all("answered by session.updated (and by error too)" in m for m in messages)
    with ServerThread(server(Behaviour(second_answer_after_s=0.3))) as url:
        _, summary = run(tmp_path / "late", url, 1)
    messages = failed(summary)["EX-VALID-ONCE"]
    assert messages and all("arrived when only" in m or "no other update was awaiting" in m for m in messages)


def test_a_server_showing_only_the_fields_set_makes_the_patch_rules_not_applicable() -> None:
    from conformance.checks import judge
    from conformance.results import evaluate
    from conformance.verdict import certify
    from tests.fixtures import to_transcript

    update = {"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "instructions": "Hi."}}
    case = {
        "timeout_s": 1.0,
        "frames": [
            {
                "direction": "server",
                "time": 0.01,
                "json": {"type": "session.created", "event_id": "s0", "session": {"type": "realtime"}},
            },
            {"direction": "client", "time": 0.02, "json": update},
            {
                "direction": "server",
                "time": 0.03,
                "json": {"type": "session.updated", "event_id": "s1", "session": update["session"]},
            },
            {"direction": "client", "time": 5.0, "close": 1000},
        ],
    }
    judgement = judge(to_transcript(case), CONTRACT)
    assert judgement.violations == []
    results = {r.requirement.id: r for r in certify(evaluate(CONTRACT, judgement), 1)}
    for requirement in ("EX-PATCH-KEEPS-UNSET", "EX-SESSION-ID-STABLE"):
        assert results[requirement].status == "skipped" and results[requirement].not_applicable
        assert results[requirement].reason.startswith("not applicable: ")
    # nothing excuses a MUST that could have been exercised and was not: no invalid update was sent
    assert results["EX-INVALID-REJECTED"].status == "failed"


@pytest.mark.parametrize(
    ("error", "throttle"),
    [
        ({"type": "invalid_request_error", "code": "rate_limit_exceeded"}, True),
        ({"type": "RateLimitError", "code": None}, True),
        ({"type": "server_error", "code": "too_many_requests"}, True),
        ({"type": "invalid_request_error", "code": "invalid_value", "message": "rate limit"}, False),
        ({"type": "invalid_request_error"}, False),
    ],
)
def test_a_rate_limit_is_named_by_the_error_code_or_type(error: dict[str, Any], throttle: bool) -> None:
    from conformance.checks import is_throttle

    assert is_throttle({"type": "error", "event_id": "e", "error": error}) is throttle

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
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from conformance.checks import THROTTLE, judge_all
from conformance.cli.main import main
from conformance.contract import load_contract
from conformance.contract.oracle import Context, classify
from conformance.run.runner import RunLog, Target, run_plans
from conformance.run.settings import Settings
from conformance.run.shard import plans_for
from conformance.wire.transport import Limits
from tests import harness
from tests.harness import ServerThread, free_port, run_cli, seeds, serving, vendored

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
    session_id_in_created_only: bool = False  # session.updated leaves the optional id out
    pings: bool = False
    fragmented: bool = False
    chatty: bool = False  # unknown fields everywhere, other events around the answers
    burst: int = 0  # throttle when more than this many updates arrive within `burst_window_s`
    burst_window_s: float = 0.4
    throttle_forever: bool = False
    double_error: bool = False  # every rejection sent twice, both echoing the update
    answer_delay_s: float = 0.0
    #: The type session.created announces; a transcription session refuses every field but its type
    #: and model (the documents list accepted values for realtime sessions only).
    created_type: str = "realtime"
    # faults
    resets_after_error: bool = False
    no_patch: bool = False
    second_answer_after_s: float | None = None
    updated_then_error: bool = False
    #: every update it rejects (invalid or undetermined) answered by session.updated (nothing applied), then error
    updated_then_error_when_rejecting: bool = False
    error_then_updated: bool = False  # rejects an invalid update, then applies it all the same
    #: rejects a valid update that sets instructions, then applies it 300 ms later all the same
    rejects_instructions_then_applies: bool = False
    #: rejects an invalid update only this long after it came (past the answer timeout), then closes
    late_error_then_close_s: float | None = None
    #: answers every valid update only this long after it came (past the answer timeout), right after an error too
    valid_late_s: float | None = None
    silent_on_undetermined: bool = False  # answers valid and invalid updates, and nothing else
    updated_and_error: bool = False  # answers a valid update with session.updated, then an error echoing it
    #: the answer to an update that sets output_modalities shows one more item, null (what it keeps is right)
    shows_a_null_modality: bool = False
    #: closes the connection (1000) when no update came for this long after a session.updated (an idle timeout)
    idle_close_after_s: float | None = None
    #: before rejecting an update of these kinds ("invalid", "undetermined"), applies each of its fields that an
    #: update setting it alone would validly set (a partial apply: what it then shows leaks the rejected update)
    applies_rejected: frozenset[str] = frozenset()
    #: rejects every update that sets the top-level turn_detection to an object (it takes null alone there)
    rejects_turn_detection_objects: bool = False


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


def valid_alone(session: dict[str, Any], session_type: str) -> dict[str, Any]:
    """The fields of `session` that an update setting only that field (and the type) would validly set."""
    context = Context(frozenset({MODEL}), session_type)

    def valid(key: str) -> bool:
        update = {"type": "session.update", "session": {"type": session_type, key: session[key]}}
        return classify(json.dumps(update), CONTRACT, context).kind == "valid"

    return {key: session[key] for key in session if key != "type" and valid(key)}


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
            if b.session_id_in_created_only and kind == "session.updated":
                del event["session"]["id"]
            text = json.dumps(vendored(event, {"note": "unknown"}) if b.chatty else event)
            if b.pings:
                await ws.ping()
            if b.fragmented:
                third = max(1, len(text) // 3)
                await ws.send([text[:third], text[third : 2 * third], text[2 * third :]])
            else:
                await ws.send(text)

        async def later(delay: float, patch: dict[str, Any] | None = None) -> None:
            await asyncio.sleep(delay)
            if patch is not None:
                apply(config, patch)
            with contextlib.suppress(ConnectionClosed):
                await send("session.updated", session=config)

        def in_background(delay: float, patch: dict[str, Any] | None = None) -> None:
            task = asyncio.create_task(later(delay, patch))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def reject(message: str, echo: Any, code: str = "invalid_value") -> None:
            error = {"type": "invalid_request_error", "code": code, "message": message, "param": None}
            error["event_id"] = echo if isinstance(echo, str) else None
            for _ in range(2 if b.double_error and not THROTTLE.search(code) else 1):
                await send("error", error=error)

        if b.chatty:
            await send("conversation.created", conversation={"id": "conv-1"})
        config["type"] = b.created_type
        await send("session.created", session=config)
        idle: list[asyncio.Task[None]] = []

        async def close_when_idle(delay: float) -> None:
            await asyncio.sleep(delay)
            await ws.close(1000, "idle")

        try:
            async for message in ws:
                for task in idle:
                    task.cancel()
                text = message if isinstance(message, str) else ""
                verdict = classify(text, CONTRACT, Context(frozenset({MODEL}), b.created_type))
                only_type = not set(verdict.session or {}) - {"type", "model"}
                if verdict.kind == "valid" and b.created_type == "transcription" and not only_type:
                    verdict = replace(verdict, kind="undetermined", reason="not on a transcription session")
                await asyncio.sleep(b.answer_delay_s)
                now = loop.time()
                recent[:] = [t for t in recent if now - t < b.burst_window_s] + [now]
                if b.throttle_forever or (b.burst and len(recent) > b.burst):
                    await reject("Rate limit reached; try again later", verdict.event_id, "rate_limit_exceeded")
                    continue
                if b.rejects_turn_detection_objects and isinstance((verdict.session or {}).get("turn_detection"), dict):
                    await reject("session.turn_detection is not supported", verdict.event_id)
                    continue
                if (
                    verdict.kind == "valid"
                    and b.rejects_instructions_then_applies
                    and "instructions" in (verdict.session or {})
                ):
                    await reject("instructions are not accepted", verdict.event_id)
                    in_background(0.3, verdict.session)
                elif verdict.kind == "valid":
                    if b.no_patch or (b.resets_after_error and errored):
                        kept = {k: config[k] for k in ("id",) if k in config}
                        config.clear()
                        config.update(defaults() | kept)
                    apply(config, verdict.session or {})
                    errored = False
                    if b.valid_late_s is not None:
                        await asyncio.sleep(b.valid_late_s)
                    if b.shows_a_null_modality and "output_modalities" in (verdict.session or {}):
                        await send(
                            "session.updated",
                            session={**config, "output_modalities": [*config["output_modalities"], None]},
                        )
                    else:
                        await send("session.updated", session=config)
                    if b.idle_close_after_s is not None:
                        idle[:] = [asyncio.create_task(close_when_idle(b.idle_close_after_s))]
                        tasks.add(idle[0])
                    if b.updated_and_error:
                        await reject("applied, and refused too", verdict.event_id)
                    if b.second_answer_after_s is not None:
                        in_background(b.second_answer_after_s)
                elif verdict.kind == "invalid" and b.updated_then_error:
                    await send("session.updated", session=config)
                    await reject(verdict.reason, verdict.event_id)
                    errored = True
                elif verdict.kind == "invalid" and b.late_error_then_close_s is not None:
                    await asyncio.sleep(b.late_error_then_close_s)
                    await reject(verdict.reason, verdict.event_id)
                    await ws.close(1008, "invalid update")
                    return
                elif verdict.kind == "invalid" and b.error_then_updated:
                    await reject(verdict.reason, verdict.event_id)
                    await send("session.updated", session=config)
                elif verdict.kind == "undetermined" and b.silent_on_undetermined:
                    pass
                elif b.updated_then_error_when_rejecting:
                    await send("session.updated", session=config)
                    await reject(verdict.reason, verdict.event_id)
                    errored = True
                else:  # invalid, or undetermined: this server refuses what the documents do not list
                    if verdict.kind in b.applies_rejected:
                        apply(config, valid_alone(verdict.session or {}, b.created_type))
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
    interval = 0.05 if b.pings else None
    return lambda: serving(make_handler(b), f"/realtime?model={MODEL}", ping_interval=interval, ping_timeout=5)


def run(
    tmp_path: Path, url: str, seed: int, *extra: str, profile: str = "full", quiet: bool = True
) -> tuple[int, dict[str, Any]]:
    report = tmp_path / f"seed-{seed}"
    args = ["run", "--target", url, "--profile", profile, "--seed", str(seed), "--report-dir", str(report)]
    fast = FAST if quiet else [a for a in FAST if a != "--quiet"]
    result = run_cli(*args, "--connections", "4", "--concurrency", "8", *fast, *extra)
    return result.exit_code, result.summary


def failed(summary: dict[str, Any]) -> dict[str, list[str]]:
    return {
        r["id"]: [v["message"] for v in r["violations"]] for r in summary["requirements"] if r["status"] == "failed"
    }


CONFORMING = {
    "pings, fragmented frames, unknown fields and other events": Behaviour(pings=True, fragmented=True, chatty=True),
    "sends every rejection twice, both echoing the update": Behaviour(double_error=True),
    "creates transcription sessions and refuses every field of a realtime one": Behaviour(created_type="transcription"),
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


@pytest.mark.parametrize(
    "behaviour", [Behaviour(session_id=False), Behaviour(session_id_in_created_only=True)], ids=["never", "created"]
)
def test_certify_without_session_id_in_two_sessions_marks_stability_not_applicable(
    tmp_path: Path, behaviour: Behaviour
) -> None:
    with ServerThread(server(behaviour)) as url:
        code, summary = run(tmp_path, url, 1, "--connections", "10", profile="certify")
    by_id = {r["id"]: r for r in summary["requirements"]}
    stable = by_id["EX-SESSION-ID-STABLE"]
    assert stable["status"] == "skipped" and stable["not_applicable"] is True
    assert "session.id" in stable["reason"]
    assert code == 0 and summary["verdict"] == "conformant", failed(summary)


@pytest.mark.parametrize("seed", SEEDS)
def test_certify_on_transcription_sessions_exercises_recovery_enough_and_is_conformant(
    tmp_path: Path, seed: int
) -> None:
    """On a transcription session few updates are known valid (its type alone): recovery after an error
    must still be exercised past the minimum, so a conforming server is certified, not failed."""
    with ServerThread(server(Behaviour(created_type="transcription"))) as url:
        code, summary = run(tmp_path, url, seed, "--connections", "6", profile="certify")
    by_id = {r["id"]: r for r in summary["requirements"]}
    assert by_id["EX-USABLE-AFTER-ERROR"]["exchanges"] >= 3 and by_id["EX-KEEP-CONFIG"]["exchanges"] >= 3
    assert (code, summary["verdict"]) == (0, "conformant"), [
        r.get("reason") for r in by_id.values() if r["status"] != "passed"
    ]


def test_certify_against_an_unreachable_target_is_an_error_with_exit_3(tmp_path: Path) -> None:
    code, summary = run(tmp_path, f"ws://127.0.0.1:{free_port()}/", 1, profile="certify")
    assert code == 3 and summary["verdict"] == "error" and failed(summary) == {}
    # the bundle of an incomplete run re-judges to the same verdict: it was never certified
    assert main(["verify", str(tmp_path / "seed-1" / "certificate.tar.gz"), "--allow-unsigned"]) == 0


#: Servers that apply part of an update they reject: the scripted exchanges alone catch each (smoke profile).
PARTIAL = {
    "applies the fields of an invalid update it rejects that are valid alone": (
        Behaviour(applies_rejected=frozenset({"invalid"})),
        "EX-KEEP-CONFIG",
    ),
    "applies the fields of an undetermined update it rejects that are valid alone": (
        Behaviour(applies_rejected=frozenset({"undetermined"})),
        "EX-KEEP-CONFIG",
    ),
}

FAULTY = {
    "resets to defaults after an error": (Behaviour(resets_after_error=True), "EX-KEEP-CONFIG"),
    "no patch semantics": (Behaviour(no_patch=True), "EX-PATCH-KEEPS-UNSET"),
    "a second session.updated 300 ms late": (Behaviour(second_answer_after_s=0.3), "EX-VALID-ONCE"),
    "session.updated then error for one invalid update": (Behaviour(updated_then_error=True), "EX-INVALID-REJECTED"),
    "error then session.updated for one invalid update": (Behaviour(error_then_updated=True), "EX-INVALID-REJECTED"),
    "resets to defaults after an error it sends twice": (
        Behaviour(double_error=True, resets_after_error=True),
        "EX-KEEP-CONFIG",
    ),
    "rejects a valid update, then applies it 300 ms later": (
        Behaviour(rejects_instructions_then_applies=True),
        "EX-VALID-ANSWERED",
    ),
    # late is late after an error too: not a connection the error left unusable (EX-USABLE-AFTER-ERROR)
    "answers every valid update after the timeout, right after an error too": (
        Behaviour(valid_late_s=1.5),
        "EX-VALID-ANSWERED",
    ),
    # spec-notes lists "an object, or null" as known valid: the object the guide sets may not be refused
    "rejects every turn_detection object, the guide's too": (
        Behaviour(rejects_turn_detection_objects=True),
        "EX-VALID-ANSWERED",
    ),
    "answers nothing to an update the documents leave undetermined": (
        Behaviour(silent_on_undetermined=True),
        "EX-UNDETERMINED-ANSWERED",
    ),
    "shows a null modality once, in the answer to the update that set them": (
        Behaviour(shows_a_null_modality=True),
        "RS-OUTPUT-MODALITIES-TYPE",
    ),
    "answers a valid update with session.updated and an error echoing it": (
        Behaviour(updated_and_error=True),
        "EX-ONE-ANSWER",
    ),
    **PARTIAL,
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


@pytest.mark.parametrize(("behaviour", "requirement"), PARTIAL.values(), ids=PARTIAL.keys())
def test_the_scripted_exchanges_alone_catch_a_rejected_update_applied_in_part(
    tmp_path: Path, behaviour: Behaviour, requirement: str
) -> None:
    """Each scripted rejection sets instructions, which the next update leaves unset: whichever kind of
    rejected update a server applies in part, its next answer shows it, on any seed."""
    with ServerThread(server(behaviour)) as url:
        code, summary = run(tmp_path, url, 1, profile="smoke")
    messages = failed(summary)
    assert set(messages) == {requirement}, messages
    assert all("session.instructions" in m and "(the value of the rejected update)" in m for m in messages[requirement])
    # each scripted rejection's probe is seen, the invalid ones' and the undetermined one's
    probes = (
        ["Never applied", "This update is rejected"] if "invalid" in behaviour.applies_rejected else ["Applied only"]
    )
    assert all(any(probe in m for m in messages[requirement]) for probe in probes), messages
    assert code == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_answering_every_rejected_update_both_ways_fails_both_answer_rules(tmp_path: Path, seed: int) -> None:
    """Two defects in one: an invalid update accepted (EX-INVALID-REJECTED) and an undetermined one answered
    both ways (EX-ONE-ANSWER). Answers a double answer leaves uncertain are not judged, and counted."""
    with ServerThread(server(Behaviour(updated_then_error_when_rejecting=True))) as url:
        code, summary = run(tmp_path, url, seed)
    messages = failed(summary)
    assert set(messages) == {"EX-INVALID-REJECTED", "EX-ONE-ANSWER"}, messages
    assert all("answered by session.updated and by error" in m for m in messages["EX-ONE-ANSWER"])
    assert code == 1 and summary["counts"]["unpaired_exchanges"] > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_a_rejection_after_the_timeout_then_a_close_fails_both_the_rejection_and_the_usable_connection(
    seed: int,
) -> None:
    """Two defects, two violations: the error came after the timeout, so no client waiting for an answer saw the
    update rejected (EX-INVALID-REJECTED), and then the server closed the connection (EX-USABLE-AFTER-ERROR).
    The close, coming after the error, cannot explain its lateness: it supersedes only an update left unanswered.
    The client listens 1.5 s at the end of a connection here, so the error 0.3 s late and the close are recorded."""
    limits = Limits(connect_s=2.0, answer_s=0.5, close_s=0.5)

    async def scenario() -> RunLog:
        async with server(Behaviour(late_error_then_close_s=0.8))() as url:
            plans = plans_for(Settings(profile="full", connections=4), seed)
            return await run_plans(plans, Target(url, limits=limits, settle_s=1.5), concurrency=8)

    judgement = judge_all(harness.run(scenario(), 120.0).transcripts, CONTRACT)
    messages: dict[str, list[str]] = {}
    for violation in judgement.violations:
        messages.setdefault(violation.requirement, []).append(violation.message)
    assert set(messages) == {"EX-INVALID-REJECTED", "EX-USABLE-AFTER-ERROR"}, messages
    late = [m for m in messages["EX-INVALID-REJECTED"] if "got error only after" in m]
    assert late and all("the timeout is 0.5s" in m for m in late)
    assert all("closed the connection (code 1008) after an error" in m for m in messages["EX-USABLE-AFTER-ERROR"])


def test_messages_say_only_what_the_frames_show(tmp_path: Path) -> None:
    with ServerThread(server(Behaviour(updated_then_error=True))) as url:
        _, summary = run(tmp_path, url, 1)
    messages = failed(summary)["EX-INVALID-REJECTED"]
    # "(and by error too)" where the error is in the update's own window; an error without event_id
    # that came after the next send cannot be told its own, and the message does not claim it
    assert all("was answered by session.updated" in m for m in messages)
    assert any("answered by session.updated (and by error too)" in m for m in messages)
    with ServerThread(server(Behaviour(second_answer_after_s=0.3))) as url:
        _, summary = run(tmp_path / "late", url, 1)
    messages = failed(summary)["EX-VALID-ONCE"]
    assert messages and all("arrived when only" in m or "no other update was awaiting" in m for m in messages)
    # answers a second one makes uncertain are not judged, and the summary says how many
    assert summary["counts"]["unpaired_exchanges"] > 0


def test_a_double_answer_is_counted_as_it_is_proven_an_announcement_at_connect_aside() -> None:
    """A server may send session.updated before any update (its configuration, unasked): that one answers
    nothing, so the message proving a double answer does not count it among those that outnumber the
    updates; nor does it count an identical copy arriving at the same instant as the proving one twice."""
    from conformance.checks import judge
    from tests.fixtures import to_transcript

    session = {"type": "realtime", "id": "s1", "instructions": "x", "output_modalities": ["audio"], "tools": []}

    def updated(at: float, event_id: str) -> dict[str, Any]:
        event = {"type": "session.updated", "event_id": event_id, "session": session}
        return {"direction": "server", "time": at, "json": event}

    def update(at: float, event_id: str) -> dict[str, Any]:
        event = {"type": "session.update", "event_id": event_id, "session": {"type": "realtime", "instructions": "x"}}
        return {"direction": "client", "time": at, "json": event}

    created = {"direction": "server", "time": 0.01, "json": {"type": "session.created", "session": session}}
    opening = [created, updated(0.02, "announced"), update(0.1, "a"), update(0.11, "b")]
    for answers in ([updated(0.15, "u1"), updated(0.16, "u2"), updated(0.17, "u3")], [updated(0.15, "u1")] * 3):
        judgement = judge(to_transcript({"timeout_s": 1.0, "frames": opening + answers}), CONTRACT)
        messages = [v.message for v in judgement.violations if v.requirement == "EX-VALID-ONCE"]
        assert messages == ["3 session.updated events arrived when only 2 session.update events had been sent"]


def test_a_server_showing_only_the_fields_set_makes_the_patch_rules_not_applicable() -> None:
    from conformance.checks import judge
    from conformance.verdict import certify
    from conformance.verdict.results import evaluate
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
    assert judgement.violations == ()
    results = {r.requirement.id: r for r in certify(evaluate(CONTRACT, judgement), 1)}
    for requirement in ("EX-PATCH-KEEPS-UNSET", "EX-SESSION-ID-STABLE"):
        assert results[requirement].status == "skipped" and results[requirement].not_applicable
        assert results[requirement].reason.startswith("not applicable: ")
    # nothing excuses a MUST that could have been exercised and was not (no invalid update was sent): the
    # run is not certified, though the target failed nothing
    assert results["EX-INVALID-REJECTED"].short_of_certification
    assert [r.status for r in results.values()].count("failed") == 0


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


# ------------------------------------------------------------------------- the runner and the judge agree


def _judge_plans(b: Behaviour, plan: Any, timeout_s: float = 1.0) -> tuple[Any, Any]:
    """Run one plan against the server `b` with the real runner; its transcript and judgement."""
    from conformance.checks import judge
    from conformance.run.runner import Target, run_plans
    from conformance.wire.transport import Limits
    from tests.harness import run as bounded

    async def go() -> Any:
        async with server(b)() as url:
            limits = Limits(connect_s=2.0, answer_s=timeout_s, close_s=0.5)
            return await run_plans([plan], Target(url, limits=limits, settle_s=0.05))

    log = bounded(go(), 30)
    (transcript,) = log.transcripts
    return transcript, judge(transcript, CONTRACT)


def _update(event_id: str, **session: Any) -> str:
    return json.dumps({"type": "session.update", "event_id": event_id, "session": {"type": "realtime", **session}})


def test_an_idle_close_after_the_update_that_followed_an_error_is_no_unusable_connection() -> None:
    """The server answers the update after an error, then closes the idle connection (1000) well within
    the timeout the client listens out: the connection was usable after the error."""
    from conformance.generate.plan import Plan

    plan = Plan("recovery", (_update("bad", voice=5), _update("good", instructions="Hi."), _update("again")))
    for updates in (plan.updates[:2], plan.updates):
        transcript, judgement = _judge_plans(Behaviour(idle_close_after_s=0.2), replace(plan, updates=updates))
        assert any(f.close_code == 1000 and f.direction == "server" for f in transcript.frames)
        assert judgement.violations == () and judgement.exercised["EX-USABLE-AFTER-ERROR"] == 1


def test_a_waited_out_update_mid_connection_gets_its_late_second_answer_attributed() -> None:
    """Plan.wait_after: the client waits out the timeout around the second update, so the second
    session.updated that comes 300 ms late is proven to be its own, not the next update's."""
    from conformance.run.runner import Plan

    updates = (_update("a", instructions=7), _update("b", instructions="B."), _update("c", instructions="C."))
    _, judgement = _judge_plans(Behaviour(second_answer_after_s=0.3), Plan("waits", updates, frozenset({0, 1})))
    (once,) = [v for v in judgement.violations if v.requirement == "EX-VALID-ONCE"]
    assert once.sent is not None and once.sent.text == updates[1]
    assert "no other update was awaiting an answer" in once.message
    assert {v.requirement for v in judgement.violations} == {"EX-VALID-ONCE"}
    # without the waits the same late answer lands in the next update's window: not attributed to "b"
    _, unwaited = _judge_plans(Behaviour(second_answer_after_s=0.3), Plan("no waits", updates))
    assert all(v.sent is None or v.sent.text != updates[1] for v in unwaited.violations)


def test_the_answer_deadline_starts_when_the_send_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame that takes 0.6 s to send, answered 0.5 s after it arrived, is answered within a 1 s
    timeout: the runner and the judge both count from the completed send (not from its start)."""
    from websockets.asyncio.client import ClientConnection

    from conformance.run.runner import Plan

    original = ClientConnection.send

    async def slow(self: ClientConnection, message: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(message, str) and '"slow"' in message:
            await asyncio.sleep(0.6)
        await original(self, message, *args, **kwargs)

    monkeypatch.setattr(ClientConnection, "send", slow)
    updates = (_update("slow", instructions="x" * 1000), _update("next", instructions="N."))
    transcript, judgement = _judge_plans(Behaviour(answer_delay_s=0.5), Plan("slow", updates), timeout_s=1.0)
    assert judgement.violations == () and judgement.exercised["EX-VALID-ANSWERED"] == 2
    sent = [f for f in transcript.frames if f.direction == "client" and f.kind == "text"]
    assert len(sent) == 2 and sent[0].time >= 0.6  # recorded when the send completed


def test_the_created_session_type_goes_on_the_wire_in_place_of_the_placeholder() -> None:
    from conformance.contract.oracle import TYPE_PLACEHOLDER
    from conformance.run.runner import Plan

    plan = Plan("placeholder", (json.dumps({"type": "session.update", "session": {"type": TYPE_PLACEHOLDER}}),))
    transcript, judgement = _judge_plans(Behaviour(created_type="transcription"), plan)
    sent = [f.text or "" for f in transcript.frames if f.direction == "client" and f.kind == "text"]
    assert [json.loads(t)["session"]["type"] for t in sent] == ["transcription"]
    assert judgement.violations == () and judgement.exercised["EX-VALID-ANSWERED"] == 1


def test_generated_connections_await_their_last_update_alone() -> None:
    """Every generated connection of two or more updates waits out the timeout once, before its last
    update (listened out after it), so the last is awaited alone; a single update needs no wait."""
    from conformance.generate.corpus import generated_plans

    for seed in (1, 2, 3):
        drawn = [p for p in generated_plans(seed, 40) if p.label.startswith("generated")]
        assert any(len(p.updates) > 2 for p in drawn) and any(len(p.updates) == 1 for p in drawn)
        for plan in drawn:
            assert plan.wait_after == ({len(plan.updates) - 2} if len(plan.updates) > 1 else set())

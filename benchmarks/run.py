"""Speed of the suite against the physical limit and against Schemathesis, measured in one run.

    python benchmarks/run.py [--short] [--no-gate]

Prints a table and, last, one JSON line with every figure. Exits 1 naming each target missed
(unless --no-gate); --short uses small sizes so CI can check that it works, not gate on numbers.
Every figure here is a ratio of two measurements taken now, on this machine, so a slow or busy
machine moves both sides together.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from websockets.asyncio.client import connect

from conformance import collector
from conformance.checks import check_event
from conformance.contract import SPEC_DIR, load_contract, read_json
from conformance.contract.oracle import classify
from conformance.generate import event, valid_session
from conformance.generate.corpus import generated_plans
from conformance.mock import DEFAULT_MODEL
from conformance.mock.session import initial_session
from conformance.run.recorder import judged
from conformance.run.runner import Plan, RunLog, Target, run_plans
from conformance.run.settings import LIVE_RATE
from conformance.wire.arrival import new_loop
from conformance.wire.transport import Limits

ROOT = Path(__file__).resolve().parent.parent
UPDATE_PATH = "/v1/realtime/client-events/session.update"
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "bare": 3000,
        "gen": 60,
        "st": 150,
        "suite": 60,
        "check": 4000,
        "growth": (100, 1000, 10000),
        "repeat": 3,
        "rounds": 5,
    },
    "short": {
        "bare": 300,
        "gen": 8,
        "st": 20,
        "suite": 8,
        "check": 400,
        "growth": (20, 200, 2000),
        "repeat": 1,
        "rounds": 1,
    },
}
#: The waits: answer timeout (None: the default), the slow server's delay, connections of the big
#: listening-out run and of the full profile (None: the profile's own), the rate against the slow servers
#: (a live target's default), and every how many faults the time to a first violation is measured for
#: (short: a sample; tests/test_suite_run.py finds each fault).
WAIT_SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "timeout": None,
        "delay": 1.5,
        "silent_timeout": 1.0,
        "big": 4000,
        "connections": None,
        "rate": LIVE_RATE,
        "faults": 1,
    },
    "short": {
        "timeout": 0.4,
        "delay": 0.15,
        "silent_timeout": 0.1,
        "big": 60,
        "connections": 4,
        "rate": 400.0,
        "faults": 4,
    },
}
TARGETS: dict[str, tuple[str, float, str]] = {
    "exchange_ratio": (">=", 0.5, "the exchange path keeps at least half of the bare WebSocket rate"),
    "generation_ratio": (">=", 2.0, "generation is at least 2x Schemathesis' own"),
    "suite_ratio": (">=", 3.0, "end to end at least 3x `st run`"),
    "check_ratio": (">=", 0.8, "checking costs at most 1/0.8 of one raw jsonschema validation"),
    "smoke_wall_s": ("<=", 5.0, "smoke profile under 5 s including the mock's start"),
    "full_wall_s": ("<=", 30.0, "full profile under 30 s including the mock's start"),
    "growth_ratio": ("<=", 12.0, "10x the exchanges costs at most 12x the time"),
    "exchange_ratio_1": (">=", 0.6, "one connection: the exchange path at 0.6 of bare against the same server"),
    "exchange_ratio_4": (">=", 0.5, "four connections: at least half of bare against the same server"),
    "slow_targets_worst_wall_s": ("<=", 120.0, "default settings: a verdict within 2 minutes against each slow server"),
    "silent_concurrency_ratio": (">=", 4.0, "8 connections wait out a silent target at least 4x faster than 1"),
    "listen_out_rate_cost": ("<=", 0.15, "listening out costs at most 15% of the rate of a 4,000-connection run"),
    "listen_out_full_extra_s": (
        "<=",
        5.5,
        "listening out costs at most one answer timeout (5 s) on the full profile, its close handshake aside",
    ),
}


def on_suite_loop(coro: Any) -> Any:
    """`asyncio.run(coro)` on the event loop a run uses (polls that time arrivals: conformance.wire.arrival),
    so what the suite's exchange path costs is measured with it; the bare baselines keep asyncio's own."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro)


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def drawing(count: int) -> settings:
    """Hypothesis settings for drawing `count` examples, as generation does: no database, no shrinking."""
    return settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def valid_updates(count: int) -> list[str]:
    """An already generated corpus of valid updates (drawn once, replayed by the measurements)."""
    found: list[str] = []

    @given(valid_session())
    @drawing(count)
    def draw(session: dict[str, Any]) -> None:
        session.pop("model", None)
        found.append(json.dumps(event(session, f"c{len(found)}")))

    draw()
    while len(found) < count:
        found.extend(found[: count - len(found)])
    return found


# ------------------------------------------------------------------------------- 1. bare

BARE_SERVER = """
import asyncio, json, sys
from websockets.asyncio.server import serve
answer = sys.stdin.readline()
async def echo(ws):
    async for _ in ws:
        await ws.send(answer)
async def main():
    async with serve(echo, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
        print(f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


@contextlib.contextmanager
def server_process(command: list[str], stdin: str = "") -> Any:
    """A target in its own process, as a real target is; yields its ws:// URL."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(stdin + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        yield line[line.index("ws://") :].split()[0]
    finally:
        process.kill()
        process.wait()


def bare_rps(updates: list[str]) -> float:
    """Round trips of the same frames over plain websockets, one connection: our I/O's physical limit."""
    answer = json.dumps({"type": "session.updated", "event_id": "e", "session": initial_session(DEFAULT_MODEL)})

    async def replay(url: str) -> float:
        async with connect(url, ping_interval=None, compression=None) as ws:
            start = time.perf_counter()
            for text in updates:
                await ws.send(text)
                await ws.recv()
            return len(updates) / (time.perf_counter() - start)

    with server_process([sys.executable, "-c", BARE_SERVER], answer) as url:
        return asyncio.run(replay(url))


# ------------------------------------------------------------------------------- 2. exchange path

MOCK = [sys.executable, "-m", "conformance.cli.main", "mock"]


def run_command(profile: str, report_dir: str, *extra: str) -> list[str]:
    """`realtime-conformance run` as a whole process, seed 1, no HTML, no shrinking."""
    return [
        sys.executable,
        "-m",
        "conformance.cli.main",
        "run",
        "--profile",
        profile,
        "--seed",
        "1",
        "--report-dir",
        report_dir,
        "--no-html",
        "--quiet",
        "--shrink-budget-s",
        "0",
        *extra,
    ]


def exchange_seconds(updates: list[str], concurrency: int, per_connection: int = 20) -> float:
    """Send, receive, record and check a corpus against the mock in its own process.

    The corpus is cut into connections of `per_connection` updates (as a run does), run
    `concurrency` at once, and each transcript is judged as its connection ends. Listening out the
    answer timeout after each connection's last update is off: it is a wait, measured apart
    (`listen_out_*`); with it on, every connection here would add the whole timeout.
    """
    contract = load_contract()
    plans = [Plan(f"bench {i}", tuple(updates[i : i + per_connection])) for i in range(0, len(updates), per_connection)]
    violations: list[Any] = []

    def check(transcript: Any, _: int) -> None:
        violations.extend(judged(transcript, contract).violations)

    async def replay(url: str) -> float:
        start = time.perf_counter()
        log = RunLog(sink=check)  # each connection judged as it ends and dropped, as a run's recorder does
        await run_plans(plans, Target(url, limits=Limits(), settle_s=0.0, listen_out=False), concurrency, log=log)
        assert log.failure is None and log.exchanges == len(updates), log.failure
        return time.perf_counter() - start

    with server_process(MOCK) as url:
        elapsed = on_suite_loop(replay(url))
    assert not violations, violations[:1]
    return elapsed


# ------------------------------------------------------------------------------- 3. generation


def generation_cps(connections: int) -> float:
    """Updates drawn and classified per second (strategies built first, as in a run; no corpus cache)."""
    contract = load_contract()
    generated_plans(10_000, 2)

    def draw_and_classify() -> int:
        plans = generated_plans(20_000, connections)
        return sum(1 for plan in plans for text in plan.updates if classify(text, contract).kind)

    seconds, count = timed(draw_and_classify)
    return count / seconds


def schemathesis_cps(count: int) -> float:
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(read_json(SPEC_DIR / "openapi.json"))
    operation = schema[UPDATE_PATH]["POST"]
    seen = 0

    def run(mode: GenerationMode) -> None:
        @given(operation.as_strategy(generation_mode=mode))
        @drawing(count)
        def draw(case: Any) -> None:
            nonlocal seen
            json.dumps(case.body) if not isinstance(case.body, bytes) else case.body
            seen += 1

        draw()

    seconds, _ = timed(lambda: (run(GenerationMode.POSITIVE), run(GenerationMode.NEGATIVE)))
    return seen / seconds


# ------------------------------------------------------------------------------- 4. end to end


def suite_cps(connections: int) -> tuple[float, float, int]:
    """End-to-end cases per second of `run --profile full`: cold (drawing the corpus) and warm (replaying it)."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache:
        command = run_command("full", tmp, "--connections", str(connections))
        environment = {**os.environ, "REALTIME_CONFORMANCE_CACHE": cache}
        rates = []
        for _ in ("cold", "warm"):
            seconds, done = timed(
                lambda: subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
            )
            if done.returncode != 0:
                raise SystemExit(f"the suite failed: {done.stdout}{done.stderr}")
            exchanges = json.loads((Path(tmp) / "summary.json").read_text())["counts"]["exchanges"]
            rates.append(exchanges / seconds)
    return rates[0], rates[1], exchanges


class _Endpoint(http.server.BaseHTTPRequestHandler):
    """The equivalent local HTTP endpoint for `st run`: answers each session.update like the mock."""

    requests = 0

    def do_POST(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"type": "session.updated", "event_id": "e", "session": initial_session(DEFAULT_MODEL)})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        return


def st_run_cps(examples: int) -> float:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "run",
        str(SPEC_DIR / "openapi.json"),
        "--url",
        f"http://127.0.0.1:{httpd.server_port}",
        "--include-path",
        UPDATE_PATH,
        "--max-examples",
        str(examples),
        "--phases",
        "fuzzing",
        "--mode",
        "all",
        "--checks",
        "not_a_server_error",
        "--no-color",
    ]
    try:
        _Endpoint.requests = 0
        with tempfile.TemporaryDirectory() as scratch:  # st keeps caches in its working directory
            seconds, _ = timed(
                lambda: subprocess.run(command, capture_output=True, text=True, check=False, timeout=600, cwd=scratch)
            )
        return _Endpoint.requests / seconds
    finally:
        httpd.shutdown()


# ------------------------------------------------------------------------------- 5. checks


def check_ratio(count: int) -> float:
    contract = load_contract()
    events = [
        {"type": "session.updated", "event_id": f"e{i}", "session": initial_session(DEFAULT_MODEL)}
        for i in range(count)
    ]
    validator = contract.validators["session.updated"]
    raw, _ = timed(lambda: [list(validator.iter_errors(e)) for e in events])
    ours, _ = timed(lambda: [check_event(e, contract) for e in events])
    return raw / ours


# ------------------------------------------------------------------------------- 6. profiles


def profile_run(profile: str) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB) of a whole `run` process, mock start included."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
        )
        command = [
            sys.executable,
            "-c",
            probe,
            *run_command(profile, tmp),
        ]
        environment = {**os.environ, "REALTIME_CONFORMANCE_CACHE": str(Path(tmp) / "corpus")}  # cold: draws anew
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
        wall, rss_kib, code = done.stdout.split()
        if code != "0":
            raise SystemExit(f"`run --profile {profile}` exited {code}")
        return float(wall), int(rss_kib) / 1024


# ------------------------------------------------------------------------------- 7. like for like

EQUIVALENT_SERVER = """
import asyncio, itertools, json, sys
from websockets.asyncio.server import serve
initial = json.loads(sys.stdin.readline())
async def handle(ws):
    session, ids = dict(initial), itertools.count()
    await ws.send(json.dumps({"type": "session.created", "event_id": f"e{next(ids)}", "session": session}))
    async for text in ws:
        session.update(json.loads(text)["session"])
        await ws.send(json.dumps({"type": "session.updated", "event_id": f"e{next(ids)}", "session": session}))
async def main():
    async with serve(handle, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
        print(f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


def equivalent_server() -> Any:
    """The least server that answers like the mock (created, then each patch applied and echoed whole)."""
    return server_process([sys.executable, "-c", EQUIVALENT_SERVER], json.dumps(initial_session(DEFAULT_MODEL)))


def bare_rps_on(url: str, updates: list[str], connections: int) -> float:
    """Plain websockets round trips against `url`, `connections` at once, each reading session.created first."""

    async def one(share: list[str]) -> None:
        async with connect(url, ping_interval=None, compression=None) as ws:
            await ws.recv()
            for text in share:
                await ws.send(text)
                await ws.recv()

    async def all_of() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(one(updates[i::connections]) for i in range(connections)))
        return len(updates) / (time.perf_counter() - start)

    return asyncio.run(all_of())


def suite_rps_on(url: str, updates: list[str], connections: int, judging: bool = True) -> float:
    """The suite's exchange path (send, receive, record, judge) against `url`, one plan per connection;
    without `judging`, the runner and transport alone (what judging costs is the difference)."""
    contract = load_contract()
    plans = [Plan(f"bench {i}", tuple(updates[i::connections])) for i in range(connections)]
    violations: list[Any] = []

    def judge_one(transcript: Any, _: int) -> None:
        if judging:
            violations.extend(judged(transcript, contract).violations)

    async def replay() -> float:
        start = time.perf_counter()
        # each connection judged as it ends and dropped (a run's recorder does the same, on its own thread)
        log = RunLog(sink=judge_one)
        await run_plans(plans, Target(url, limits=Limits(), settle_s=0.0, listen_out=False), connections, log=log)
        assert log.failure is None and log.exchanges == len(updates), log.failure
        return len(updates) / (time.perf_counter() - start)

    rate = on_suite_loop(replay())
    assert not violations, violations[:1]
    return rate


def cpu_seconds(func: Callable[[], Any]) -> float:
    """This process' CPU time spent in `func` (the server's, in its own process, not counted)."""
    start = time.process_time()
    func()
    return time.process_time() - start


def rounds(measures: dict[str, Callable[[], float]], count: int) -> list[dict[str, float]]:
    """`count` rounds of every measure, back to back within a round, each round starting one measure later
    (no side always runs first): what drifts on a shared machine between rounds (other processes, the
    clock speed) moves every side of a round alike, which medians of separate blocks of runs did not cancel."""
    names = list(measures)
    runs = []
    for index in range(count):
        turn = index % len(names)
        runs.append({name: measures[name]() for name in names[turn:] + names[:turn]})
    return runs


def median_ratio(runs: list[dict[str, float]], over: str, under: str) -> float:
    """The median of each round's own ratio: the ratio of the two medians would carry the drift between rounds."""
    return median(run[over] / run[under] for run in runs)


def like_for_like(updates: list[str], count: int) -> dict[str, float]:
    """Suite against bare on the same number of connections against the same server, in `count` rounds; the
    mock's cost apart.

    The listening out after each connection's last update is off here: it is a wait, measured
    apart (`listen_out_*`), not work of the exchange path.
    """
    figures: dict[str, float] = {}
    with equivalent_server() as url:
        bare_rps_on(url, updates[:200], 1)  # warm-up
        suite_rps_on(url, updates[:200], 1)
        # one connection: also the runner and transport alone, so what judging adds is found within each round
        single: dict[str, Callable[[], float]] = {
            "bare": lambda: bare_rps_on(url, updates, 1),
            "suite": lambda: suite_rps_on(url, updates, 1),
            "runner": lambda: suite_rps_on(url, updates, 1, judging=False),
        }
        one = rounds(single, count)
        four = rounds(
            {"bare": lambda: bare_rps_on(url, updates, 4), "suite": lambda: suite_rps_on(url, updates, 4)}, count
        )
        for n, runs in ((1, one), (4, four)):
            figures[f"bare_rps_{n}"] = median(run["bare"] for run in runs)
            figures[f"suite_rps_{n}"] = median(run["suite"] for run in runs)
            figures[f"exchange_ratio_{n}"] = median_ratio(runs, "suite", "bare")
        figures["runner_rps_1"] = median(run["runner"] for run in one)
        figures["runner_ratio_1"] = median_ratio(one, "runner", "bare")
        figures["judge_us_per_exchange"] = median(1e6 * (1 / run["suite"] - 1 / run["runner"]) for run in one)
        # the same three in this process' CPU time (what other processes on a busy machine do not move)
        for name, run in single.items():
            figures[f"cpu_us_{name}_1"] = median(cpu_seconds(run) for _ in range(count)) * 1e6 / len(updates)
    with server_process(MOCK) as url:
        figures["suite_rps_mock_4"] = median(suite_rps_on(url, updates, 4) for _ in range(count))
    figures["mock_cost_ratio"] = figures["suite_rps_mock_4"] / figures["suite_rps_4"]
    return figures


def check_ratios(count: int) -> dict[str, float]:
    """Our checks against jsonschema-rs itself, on valid events and on invalid ones (errors listed)."""
    import jsonschema_rs

    contract = load_contract()
    schema = contract.validators["session.updated"].schema
    rs = jsonschema_rs.validator_for(schema, registry=jsonschema_rs.Registry(_schema_documents()))
    valid = [
        {"type": "session.updated", "event_id": f"e{i}", "session": initial_session(DEFAULT_MODEL)}
        for i in range(count)
    ]
    invalid = [{**e, "session": {**e["session"], "model": i, "voice": 7}} for i, e in enumerate(valid)]
    assert all(rs.is_valid(e) for e in valid) and not any(rs.is_valid(e) for e in invalid)
    figures = {}
    for name, events in (("valid", valid), ("invalid", invalid)):
        # this process' CPU time (what the other processes of a shared machine do not move), medians of 3
        raw = median(cpu_seconds(lambda events=events: [list(rs.iter_errors(e)) for e in events]) for _ in range(3))
        ours = median(cpu_seconds(lambda events=events: [check_event(e, contract) for e in events]) for _ in range(3))
        figures[f"check_ratio_rs_{name}"] = raw / ours
    return figures


def _schema_documents() -> list[tuple[str, Any]]:
    from conformance.contract import SCHEMA_DIR

    return [(read_json(path)["$id"], read_json(path)) for path in sorted(SCHEMA_DIR.glob("*.json"))]


# ------------------------------------------------------------------------------- 8. waits: faults, silence, listening


def full_profile(**sizes: Any) -> Any:
    """The full profile's settings; a size given as None is the profile's own."""
    from conformance.run.settings import Settings

    return Settings(profile="full", **{name: value for name, value in sizes.items() if value is not None})


def sized(connections: int | None) -> list[str]:
    """The `run` options for `connections` (None: the profile's own)."""
    return ["--connections", str(connections)] if connections else []


def first_violation_s(timeout_s: float | None, connections: int | None, every: int, seed: int = 1) -> dict[str, Any]:
    """Seconds from the start of the full profile against the mock with each fault (every `every`th) to
    the first violation of a requirement the fault trips, each connection judged as it completes."""
    from conformance.mock import MockConfig, serve_mock
    from conformance.mock.faults import FAULTS
    from conformance.run.shard import plans_for
    from conformance.run.target import target_for

    settings = full_profile(concurrency=16, timeout_s=timeout_s, connections=connections)
    plans = plans_for(settings, seed)
    contract = load_contract()

    async def one(fault: Any) -> float | None:
        found = asyncio.Event()
        start = time.perf_counter()
        at: list[float] = []

        def on_done(transcript: Any) -> None:
            if not at and any(v.requirement in fault.trips for v in judged(transcript, contract).violations):
                at.append(time.perf_counter() - start)
                found.set()

        async with serve_mock(MockConfig(faults=(fault,))) as url:
            run = asyncio.ensure_future(run_plans(plans, target_for(settings, url), settings.concurrency, on_done))
            waiter = asyncio.ensure_future(found.wait())
            await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
            for task in (run, waiter):
                task.cancel()
            await asyncio.gather(run, waiter, return_exceptions=True)
        return at[0] if at else None

    faults = [f for f in FAULTS if f.trips and not f.outcome][::every]
    times = {f.name: on_suite_loop(one(f)) for f in faults}
    found = sorted(t for t in times.values() if t is not None)
    return {
        "first_violation_median_s": median(found),
        "first_violation_worst_s": found[-1],
        "first_violation_missed": sorted(name for name, t in times.items() if t is None),
    }


def silent_concurrency(timeout_s: float, connections: int | None) -> dict[str, float]:
    """Wall time of the full profile against a mock that never answers invalid updates, 8 connections vs 1
    (the mock in its own process, as a live target; no rate bound, so only the connections differ)."""
    walls = {}
    with server_process([*MOCK, "--fault", "silent-on-invalid"]) as url:
        for n in (1, 8):
            with tempfile.TemporaryDirectory() as tmp:
                command = run_command("full", tmp, "--target", url, "--concurrency", str(n), "--rate", "10000")
                command += ["--timeout", str(timeout_s), *sized(connections)]
                walls[n], done = timed(functools.partial(subprocess.run, command, capture_output=True, check=False))
                if done.returncode != 1:
                    raise SystemExit(f"silent-on-invalid: expected exit 1, got {done.returncode}")
    return {"silent_wall_s_1": walls[1], "silent_wall_s_8": walls[8], "silent_concurrency_ratio": walls[1] / walls[8]}


def _run_and_judge(settings: Any, plans: list[Plan], listen_out: bool) -> int:
    """Run `plans` against a fresh embedded mock and judge them: the exchanges made."""
    from dataclasses import replace

    from conformance.checks import judge_all
    from conformance.mock import MockConfig, serve_mock
    from conformance.run.target import target_for

    async def run() -> Any:
        async with serve_mock(MockConfig()) as url:
            target = replace(target_for(settings, url), listen_out=listen_out)
            return await run_plans(plans, target, settings.concurrency)

    log = on_suite_loop(run())
    judge_all(log.transcripts, load_contract())
    return int(log.exchanges)


def listen_out_cost(connections: int, full_connections: int | None, timeout_s: float | None) -> dict[str, float]:
    """What listening out the whole timeout after each connection's last update costs: the share of
    the end-to-end rate of a run of `connections` (drawing the corpus, running, judging; the corpus is
    drawn once and its time counted on both sides, as the order of two draws skews them), and the
    extra wall seconds of the full profile."""
    from conformance.run.shard import plans_for

    figures: dict[str, float] = {}
    plans_for(full_profile(connections=2), 2)  # warm-up: strategies are built once, on first use
    for name, count in (("big", connections), ("full", full_connections)):
        settings = full_profile(concurrency=16, connections=count, timeout_s=timeout_s)
        draw_s, plans = timed(functools.partial(plans_for, settings, 1))
        walls = {}
        for listen in (False, True):
            walls[listen], exchanges = timed(functools.partial(_run_and_judge, settings, plans, listen))
        if name == "big":
            figures["listen_out_rate_cost"] = 1 - (draw_s + walls[False]) / (draw_s + walls[True])
            figures["listen_out_big_exchanges"] = float(exchanges)
        else:
            figures["listen_out_full_extra_s"] = walls[True] - walls[False]
    return figures


def slow_targets_wall(
    timeout_s: float | None, delay_s: float, connections: int | None, rate: float = LIVE_RATE
) -> dict[str, float]:
    """Wall time of `run --profile full` with the defaults for a remote target (its rate given, as the
    servers are on loopback) against each slow server of tests/test_slow_targets.py, its exit checked."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.conftest import ServerThread
    from tests.test_slow_targets import SILENT, server, slow

    figures = {}
    servers = {"late": slow(delay_s), **SILENT}
    for name, answer in servers.items():
        with ServerThread(lambda answer=answer: server(answer)) as url, tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "conformance.cli.main", "run", "--target", url, "--profile", "full"]
            command += ["--seed", "1", "--report-dir", tmp, "--no-html", "--quiet", "--rate", str(rate)]
            command += ["--timeout", str(timeout_s)] if timeout_s else []
            command += sized(connections)
            wall, done = timed(lambda command=command: subprocess.run(command, capture_output=True, check=False))
            if done.returncode != (0 if name == "late" else 1):
                raise SystemExit(f"slow target {name}: unexpected exit {done.returncode}")
            figures[f"slow_target_{name}_wall_s"] = wall
    figures["slow_targets_worst_wall_s"] = max(figures.values())
    return figures


def waits_and_like_for_like(short: bool, corpus: list[str], count: int) -> dict[str, Any]:
    """The figures of the slow-targets and like-for-like measurements (issue 15)."""
    size = WAIT_SIZES["short" if short else "full"]
    figures: dict[str, Any] = {}
    figures.update(like_for_like(corpus, count))
    figures.update(check_ratios(SIZES["short" if short else "full"]["check"]))
    figures.update(first_violation_s(size["timeout"], size["connections"], size["faults"]))
    figures.update(silent_concurrency(size["silent_timeout"], size["connections"]))
    figures.update(listen_out_cost(size["big"], size["connections"], size["timeout"]))
    figures.update(slow_targets_wall(size["timeout"], size["delay"], size["connections"], size["rate"]))
    return figures


# ------------------------------------------------------------------------- memory: flat in run size

#: Exchanges of the sized runs whose peak RSS is compared (`--memory-sizes` overrides).
MEMORY_SIZES = {"full": (1_600, 16_000, 160_000), "short": (200, 2_000)}
TARGETS["memory_flat_ratio"] = ("<=", 1.3, "peak RSS of the largest run at most 1.3x the smallest's")
TARGETS["memory_peak_16k_mib"] = ("<=", 150.0, "a run of 16,000 exchanges in at most 150 MB")


def sized_run(exchanges: int) -> dict[str, Any]:
    """A run of about `exchanges` exchanges (benchmarks/sized_run.py) in a child process; its peak RSS is the
    child's own ru_maxrss, from wait4, so nothing else this script started counts."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, str(ROOT / "benchmarks" / "sized_run.py"), str(exchanges), tmp]
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"the sized run of {exchanges} exchanges exited {child.returncode}")
        figures: dict[str, Any] = json.loads(out.splitlines()[-1])
        figures["peak_mib"] = usage.ru_maxrss / 1024
        return figures


def memory_figures(sizes: tuple[int, ...]) -> dict[str, Any]:
    """Peak RSS at each size, and `memory_flat_ratio` = largest ÷ smallest (flat: 1)."""
    runs = {size: sized_run(size) for size in sizes}
    small, large = runs[min(sizes)], runs[max(sizes)]
    figures: dict[str, Any] = {
        "memory_peak_mib": {str(n): round(r["peak_mib"], 1) for n, r in runs.items()},
        "memory_wall_s": {str(n): r["wall_s"] for n, r in runs.items()},
        "memory_plans_mib": {str(n): r["plans_mib"] for n, r in runs.items()},
        "memory_flat_ratio": large["peak_mib"] / small["peak_mib"],
    }
    if 16_000 in runs:
        figures["memory_peak_16k_mib"] = runs[16_000]["peak_mib"]
    return figures


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--short", action="store_true", help="small sizes: check that it works")
    options.add_argument("--no-gate", action="store_true", help="report missed targets without failing")
    options.add_argument(
        "--memory-sizes", help="exchanges of the sized runs, comma-separated (default 1600,16000,160000)"
    )
    options.add_argument("--memory-only", action="store_true", help="measure only the peak RSS of the sized runs")
    args = options.parse_args()
    os.environ["REALTIME_CONFORMANCE_CACHE"] = "off"  # measure drawing, not the corpus cache
    collector.freeze()  # as the CLI does: the imported modules are not garbage
    size = SIZES["short" if args.short else "full"]
    figures: dict[str, Any] = {"mode": "short" if args.short else "full"}

    sizes = MEMORY_SIZES["short" if args.short else "full"]
    if args.memory_sizes:
        sizes = tuple(int(n) for n in args.memory_sizes.split(","))
    memory = memory_figures(sizes)
    if args.memory_only:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in memory.items()}))
        ratio = memory["memory_flat_ratio"]
        return 0 if ratio <= TARGETS["memory_flat_ratio"][1] or args.no_gate or args.short else 1
    corpus = valid_updates(size["bare"])
    repeat = size["repeat"]
    figures["bare_rps"] = median(bare_rps(corpus) for _ in range(repeat))
    figures["exchange_rps"] = median(len(corpus) / exchange_seconds(corpus, concurrency=4) for _ in range(repeat))
    figures["exchange_rps_one_connection"] = len(corpus) / exchange_seconds(corpus, 1, per_connection=len(corpus))
    figures["exchange_ratio"] = figures["exchange_rps"] / figures["bare_rps"]
    figures["generation_cps"] = generation_cps(size["gen"])
    figures["schemathesis_cps"] = schemathesis_cps(size["st"])
    figures["generation_ratio"] = figures["generation_cps"] / figures["schemathesis_cps"]
    suite_runs = [suite_cps(size["suite"]) for _ in range(repeat)]
    figures["suite_cps"] = median(run[0] for run in suite_runs)
    figures["suite_cps_warm"] = median(run[1] for run in suite_runs)
    figures["suite_exchanges"] = suite_runs[0][2]
    figures["st_run_cps"] = median(st_run_cps(size["st"]) for _ in range(repeat))
    figures["suite_ratio"] = figures["suite_cps"] / figures["st_run_cps"]
    figures["check_ratio"] = check_ratio(size["check"])
    figures["smoke_wall_s"], figures["smoke_peak_mib"] = profile_run("smoke")
    figures["full_wall_s"], figures["full_peak_mib"] = profile_run("full")
    growth = {}
    base = corpus[:2000]  # cycled to each size below
    exchange_seconds(base[:200], concurrency=4)  # warm-up: the first connections pay one-time costs
    for count in size["growth"]:
        updates = (base * (count // len(base) + 1))[:count]
        growth[count] = median(exchange_seconds(updates, concurrency=4) for _ in range(repeat))
    _, middle, large = size["growth"]
    figures["growth_s"] = {str(k): round(v, 3) for k, v in growth.items()}
    figures["growth_ratio"] = growth[large] / growth[middle]
    figures.update(memory)

    figures.update(waits_and_like_for_like(args.short, corpus, size["rounds"]))

    print(f"{'figure':<18} {'value':>12}  target")
    missed = []
    for key, value in figures.items():
        if isinstance(value, float):
            target = TARGETS.get(key)
            text = ""
            if target:
                op, bound, why = target
                ok = value >= bound if op == ">=" else value <= bound
                text = f"{op} {bound:g} {'ok' if ok else 'MISSED'}: {why}"
                if not ok:
                    missed.append(f"{key} = {value:.3g} ({op} {bound:g}: {why})")
            print(f"{key:<18} {value:>12.3f}  {text}")
    figures["missed"] = missed
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))
    if missed and not (args.no_gate or args.short):
        for line in missed:
            print(f"target missed: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

"""Spreading a run over processes or machines with pytest-xdist, merged into one result.

The controller plans the run (seed included) and passes a `ShardSpec` (no secrets: credentials
are named by their environment variables) to `-n N` workers; each runs every N-th connection and
judges each of its connections as it ends and writes its transcript at once into the run's
transcripts folder (`shard-K.jsonl`, and one file per failing connection); what it returns through
xdist's `workeroutput` is its `Tally` (counts and bounded evidence, plan-indexed), which the
controller merges, so the verdict is the serial run's and no process holds the run in memory.
A worker on another machine (`--tx ssh=…`) cannot write into the controller's folder: it sends
its files with its record instead (memory then grows with its share of the run, as before).

What crosses from a worker is one ASCII JSON text: execnet carries a `str` as UTF-8, which a lone
surrogate in a frame cannot be written in, while a `\\ud800` escape can; frame texts stay texts (a
5,000-digit integer in one is never parsed on the way). A worker that fails sends what it ran and
its traceback; one that never reports leaves its tracebacks in pytest's reports, which the
controller collects, so a bug of ours is shown (exit 4) and what ran is still judged and reported.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from conformance import progress
from conformance.run.runner import Cut, Politeness, RunLog
from conformance.run.settings import Settings
from conformance.run.shard import Shard, fresh_directory, run_shard
from conformance.verdict.tally import Tally
from conformance.wire.auth import auth_from_env
from conformance.wire.transport import ConnectFailed

OUTPUT_KEY = "realtime_conformance_shards"
#: What a worker needs of the settings (the rest, like baselines, matters only when judging).
WORKER_FIELDS = (
    "target",
    "profile",
    "timeout_s",
    "connect_timeout_s",
    "models",
    "model_names",
    "dialect",
    "connections",
    "concurrency",
    "settle_s",
    "ca_file",
    "insecure",
    "max_frame_bytes",
    "max_connection_bytes",
    "max_run_bytes",
    "auth_spec",
)


@dataclass(frozen=True)
class ShardSpec:
    settings: dict[str, Any]
    politeness: dict[str, Any]
    seed: int
    shards: int
    directory: str = ""  # where the workers write their transcripts ("" : each a temporary folder)
    host: str = ""  # the controller's host: a worker elsewhere sends its files in its record

    @classmethod
    def of(cls, settings: Settings, seed: int, shards: int, directory: Path | None = None) -> ShardSpec:
        values = {name: getattr(settings, name) for name in WORKER_FIELDS}
        return cls(values, asdict(settings.politeness), seed, shards, str(directory or ""), socket.gethostname())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ShardSpec:
        return cls(**json.loads(text))

    def worker_settings(self) -> Settings:
        """The settings of one worker; the run's byte bound is shared out, so the workers' sum is the run's."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in self.settings.items()}
        api_key_env, iam_token_env, headers = values["auth_spec"]
        auth = auth_from_env(api_key_env, iam_token_env, list(headers))
        values["max_run_bytes"] = max(1, values["max_run_bytes"] // self.shards)
        return replace(Settings(), **values, auth=auth, politeness=Politeness(**self.politeness))


def shard_to_json(shard: Shard) -> dict[str, Any]:
    log = shard.log
    failure = asdict(log.failure) if log.failure else None
    return {
        "url": shard.url,
        "interrupted": shard.interrupted,
        "tally": shard.tally.to_json(),
        "directory": str(shard.directory) if shard.directory is not None else None,
        "all_name": shard.all_name,
        "exchanges": log.exchanges,
        "aborted": log.aborted,
        "stopped": log.stopped,
        "throttled": [log.throttled, log.throttled_s],
        "cut": [asdict(c) for c in log.cut],
        "received_bytes": log.received_bytes,
        "not_reached": [log.unreached_connections, log.unsent_updates],
        "unjudged": log.unjudged_connections,
        "error": shard.error,
        "failure": failure,
        "tls": log.tls_fingerprint,
        "planned": list(shard.planned),
    }


def shard_from_json(data: dict[str, Any]) -> Shard:
    log = RunLog(
        failure=ConnectFailed(**data["failure"]) if data["failure"] else None,
        exchanges=data["exchanges"],
        tls_fingerprint=data["tls"],
        aborted=list(data["aborted"]),
        stopped=data["stopped"],
        throttled=data["throttled"][0],
        throttled_s=data["throttled"][1],
        cut=[Cut(**c) for c in data["cut"]],
        received_bytes=data["received_bytes"],
        unreached_connections=data["not_reached"][0],
        unsent_updates=data["not_reached"][1],
        unjudged_connections=data["unjudged"],
    )
    directory = Path(data["directory"]) if data["directory"] else None
    if data.get("files") is not None:  # a remote worker's files, sent with its record
        directory = fresh_directory(None)
        for name, text in data["files"].items():
            (directory / Path(name).name).write_text(text, encoding="utf-8")
    tally = Tally.from_json(data["tally"])
    return Shard(
        data["url"], log, data["interrupted"], tuple(data["planned"]), data["error"], tally, directory, data["all_name"]
    )


def encode(result: dict[str, Any]) -> str:
    """The worker's record as ASCII JSON: any frame text survives execnet's UTF-8 (see the module doc)."""
    return json.dumps(result, ensure_ascii=True)


def run_share(spec: ShardSpec, shard: int, config: pytest.Config) -> None:
    """Run one shard and hand its record to the controller (or, without xdist, to the collector)."""
    progress.report_to_controller(shard)
    local = spec.host in ("", socket.gethostname())
    directory = Path(spec.directory) if spec.directory and local else None
    ran = run_shard(spec.worker_settings(), spec.seed, shard, spec.shards, directory=directory)
    result = shard_to_json(ran)
    if not local and ran.directory is not None:
        result["files"] = {p.name: p.read_text(encoding="utf-8") for p in ran.directory.glob("*.jsonl")}
        shutil.rmtree(ran.directory, ignore_errors=True)
    result["shard"] = shard
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output.setdefault(OUTPUT_KEY, []).append(encode(result))
    else:
        collector = config.pluginmanager.get_plugin(ShardCollector.NAME)
        assert isinstance(collector, ShardCollector), "run the shards through realtime-conformance run --workers"
        collector.received.append(result)


class ShardCollector:
    """The controller's end: gathers every worker's shards as the workers finish."""

    NAME = "realtime-conformance-shards"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.errors: list[str] = []  # tracebacks of shard items that failed, and workers that went down

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        for text in getattr(node, "workeroutput", {}).get(OUTPUT_KEY, []):
            self.received.append(json.loads(text))
        if error:
            self.errors.append(f"worker {getattr(getattr(node, 'gateway', None), 'id', '?')} went down: {error}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid} ({report.when}):\n{report.longreprtext}")

    def pytest_internalerror(self, excrepr: Any) -> None:
        self.errors.append(str(excrepr))

    def shards(self, url: str, count: int, interrupted: bool = False) -> list[Shard]:
        """One shard per worker; one that never reported stands as an empty shard, interrupted (Ctrl-C)
        or with the errors seen."""
        by_index = {d["shard"]: shard_from_json(d) for d in self.received}
        if interrupted:
            return [by_index.get(k) or Shard(url, RunLog(), interrupted=True) for k in range(count)]
        errors = "\n".join(self.errors) or None
        lost = errors or "a worker sent no record"
        shards = [by_index.get(k) or Shard(url, RunLog(), error=lost) for k in range(count)]
        if errors and all(s.error is None for s in shards):  # all reported, yet something failed
            shards[0] = replace(shards[0], error=errors)
        return shards

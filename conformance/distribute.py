"""Spreading a run over processes or machines with pytest-xdist, merged into one result.

The controller plans the run (seed included) and passes a `ShardSpec` (no secrets: credentials
are named by their environment variables) to `-n N` workers; each runs every N-th connection and
returns its transcripts through xdist's `workeroutput`; the controller merges them in plan order
and judges once, so the verdict is the serial run's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import pytest

from conformance.engine import Settings, Shard, run_shard
from conformance.plugin import auth_from_env
from conformance.runner import Politeness, RunLog
from conformance.transcript import parse_jsonl
from conformance.transport import ConnectFailed

OUTPUT_KEY = "realtime_conformance_shards"
#: What a worker needs of the settings (the rest, like baselines, matters only when judging).
WORKER_FIELDS = (
    "target",
    "profile",
    "timeout_s",
    "connect_timeout_s",
    "models",
    "model_names",
    "connections",
    "concurrency",
    "settle_s",
    "ca_file",
    "insecure",
    "max_frame_bytes",
    "auth_spec",
)


@dataclass(frozen=True)
class ShardSpec:
    settings: dict[str, Any]
    politeness: dict[str, Any]
    seed: int
    shards: int

    @classmethod
    def of(cls, settings: Settings, seed: int, shards: int) -> ShardSpec:
        values = {name: getattr(settings, name) for name in WORKER_FIELDS}
        return cls(values, asdict(settings.politeness), seed, shards)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ShardSpec:
        return cls(**json.loads(text))

    def worker_settings(self) -> Settings:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in self.settings.items()}
        api_key_env, iam_token_env, headers = values["auth_spec"]
        auth = auth_from_env(api_key_env, iam_token_env, list(headers))
        return replace(Settings(), **values, auth=auth, politeness=Politeness(**self.politeness))


def shard_to_json(shard: Shard) -> dict[str, Any]:
    log = shard.log
    failure = asdict(log.failure) if log.failure else None
    return {
        "url": shard.url,
        "interrupted": shard.interrupted,
        "transcripts": "".join(t.to_jsonl() for t in log.transcripts),
        "exchanges": log.exchanges,
        "aborted": log.aborted,
        "stopped": log.stopped,
        "throttled": [log.throttled, log.throttled_s],
        "failure": failure,
        "tls": log.tls_fingerprint,
        "planned": shard.planned,
    }


def shard_from_json(data: dict[str, Any]) -> Shard:
    log = RunLog(
        transcripts=parse_jsonl(data["transcripts"]) if data["transcripts"] else [],
        failure=ConnectFailed(**data["failure"]) if data["failure"] else None,
        exchanges=data["exchanges"],
        tls_fingerprint=data["tls"],
        aborted=list(data["aborted"]),
        stopped=data["stopped"],
        throttled=data["throttled"][0],
        throttled_s=data["throttled"][1],
    )
    return Shard(data["url"], log, data["interrupted"], list(data["planned"]))


def run_share(spec: ShardSpec, shard: int, config: pytest.Config) -> None:
    """Run one shard and hand its record to the controller (or, without xdist, to the collector)."""
    result = shard_to_json(run_shard(spec.worker_settings(), spec.seed, shard, spec.shards))
    result["shard"] = shard
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output.setdefault(OUTPUT_KEY, []).append(json.dumps(result))
    else:
        collector = config.pluginmanager.get_plugin(ShardCollector.NAME)
        assert isinstance(collector, ShardCollector), "run the shards through realtime-conformance run --workers"
        collector.received.append(result)


class ShardCollector:
    """The controller's end: gathers every worker's shards as the workers finish."""

    NAME = "realtime-conformance-shards"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        for text in getattr(node, "workeroutput", {}).get(OUTPUT_KEY, []):
            self.received.append(json.loads(text))

    def shards(self) -> list[Shard]:
        return [shard_from_json(d) for d in sorted(self.received, key=lambda d: d["shard"])]

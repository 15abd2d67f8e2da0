"""The shards of a run as one: their logs, their tallies, and their transcript files in plan order."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from conformance.contract import load_contract
from conformance.redact import redactor
from conformance.run.log import RunRecord
from conformance.run.recorder import ALL, Recorder, merge_in_order
from conformance.run.settings import Settings
from conformance.run.shard import Shard, fresh_directory
from conformance.transcript import Transcript
from conformance.verdict.tally import Tally


def merge(shards: Sequence[Shard]) -> RunRecord:
    """One record from the shards' logs (their transcripts are judged and written by `gather`, not kept here)."""
    logs = [shard.log for shard in shards]
    return RunRecord(
        failure=next((log.failure for log in logs if log.failure), None),
        exchanges=sum(log.exchanges for log in logs),
        tls_fingerprint=next((log.tls_fingerprint for log in logs if log.tls_fingerprint), None),
        aborted=tuple(aborted for log in logs for aborted in log.aborted),
        stopped=next((log.stopped for log in logs if log.stopped), None),
        throttled=sum(log.throttled for log in logs),
        throttled_s=sum(log.throttled_s for log in logs),
        cut=tuple(cut for log in logs for cut in log.cut),
        received_bytes=sum(log.received_bytes for log in logs),
        unreached_connections=sum(log.unreached_connections for log in logs),
        unsent_updates=sum(log.unsent_updates for log in logs),
        unjudged_connections=sum(log.unjudged_connections for log in logs),
    )


def run_order(shards: Sequence[Shard]) -> dict[str, int]:
    """Each plan label's number in the run (shard k ran plans k, k + n, k + 2n…)."""
    return {label: i * len(shards) + k for k, shard in enumerate(shards) for i, label in enumerate(shard.planned)}


def gather(settings: Settings, shards: Sequence[Shard], directory: Path | None) -> tuple[Tally, Path]:
    """The shards' tallies as one, and their transcripts in one directory (all.jsonl shard after shard).

    A shard that kept its transcripts in memory (none of ours does) is judged and written here.
    """
    target = directory or next((s.directory for s in shards if s.directory is not None), None)
    target = target if target is not None else fresh_directory(None)
    target.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    combined = target / ALL
    written = [s.directory / s.all_name for s in shards if s.directory is not None]
    written = [path for path in written if path.exists() and path.resolve() != combined.resolve()]
    order = run_order(shards) if written or any(s.log.transcripts for s in shards) else {}  # one shard: none
    if written:  # the workers' files, each in its plan order: one file in the run's
        merge_in_order(written, order, combined)
        for path in written:
            path.unlink()
    for shard in shards:
        tally.merge(shard.tally)
        if shard.directory is not None and shard.directory.resolve() != target.resolve():
            for name in shard.directory.glob("*.jsonl"):
                if name.name != ALL:
                    shutil.move(name, target / name.name)
    kept = [s.log.transcripts for s in shards if s.log.transcripts]
    if kept:
        tally.merge(_judge_kept(settings, kept, order, target))
    if not combined.exists():
        combined.touch()
    return tally, target


def _judge_kept(settings: Settings, kept: list[list[Transcript]], order: dict[str, int], target: Path) -> Tally:
    """Judge and write transcripts the shards kept in memory, merged into all.jsonl in plan order."""
    combined = target / ALL
    kept_file = target / "kept.jsonl"
    contract = load_contract(settings.model_names or None, settings.dialect)
    recorder = Recorder(target, contract, order, redactor(settings.auth.secrets), kept_file.name)
    try:
        for transcripts in kept:
            for transcript in transcripts:
                recorder.take(transcript)
    finally:
        error = recorder.close()
    if error is not None:
        raise RuntimeError(f"judging the shards' transcripts failed:\n{error}")
    sources = [kept_file]
    if combined.exists():
        sources.append(combined.rename(target / "merged.jsonl"))
    merge_in_order(sources, order, combined)
    for path in sources:
        path.unlink()
    return recorder.tally

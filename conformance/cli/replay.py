"""`realtime-conformance replay`: re-send a recorded run's client frames to a target and judge the answers."""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

from conformance.cli.exits import Exit, UsageError, fail
from conformance.cli.options import REPLAY_OPTIONS, RUN_OPTIONS
from conformance.cli.settings_check import settings_from
from conformance.cli.table import print_results
from conformance.generate.plan import Plan
from conformance.readers import TRANSCRIPT_BYTES, ReadError, read_text
from conformance.redact import redactor
from conformance.run.replay import replay, replay_plans
from conformance.run.settings import Settings
from conformance.transcript import TranscriptError, parse_jsonl

BUNDLE_TRANSCRIPTS = "transcripts/all.jsonl"


def replay_text(path: Path) -> str:
    """The transcript text of FILE: a .jsonl file, a bundle folder, or a bundle archive (read, never extracted)."""
    if path.is_dir():
        found = sorted(path.rglob(BUNDLE_TRANSCRIPTS))
        if not found:
            raise UsageError(f"{path}: no {BUNDLE_TRANSCRIPTS} in this folder")
        path = found[0]
    elif path.is_file() and tarfile.is_tarfile(path):
        try:
            with tarfile.open(path) as archive:
                member = next((m for m in archive.getmembers() if m.name.endswith(BUNDLE_TRANSCRIPTS)), None)
                if member is None or not member.isfile() or member.size > TRANSCRIPT_BYTES:
                    raise UsageError(f"{path}: no readable {BUNDLE_TRANSCRIPTS} in this archive")
                data = archive.extractfile(member)
                assert data is not None
                return data.read().decode("utf-8", errors="surrogateescape")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise UsageError(f"{path}: not a readable bundle archive ({exc})") from None
    try:
        return read_text(path, TRANSCRIPT_BYTES)
    except ReadError as exc:
        raise UsageError(str(exc)) from None


def plans_of(path: Path, timeout_s: float) -> list[Plan]:
    """The plans FILE's recorded connections make (`replay_plans`), or a usage error."""
    try:
        plans = replay_plans(parse_jsonl(replay_text(path), default_timeout_s=timeout_s))
    except TranscriptError as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not plans:
        raise UsageError(f"{path}: no client frame to replay")
    return plans


def replay_settings(args: argparse.Namespace) -> Settings:
    """The run's settings: the replay options given, every other run option at its default."""
    values = {o.dest: o.argparse_kwargs(o.default)["default"] for o in RUN_OPTIONS if not o.positional}
    values.update({o.dest: getattr(args, o.dest) for o in REPLAY_OPTIONS if not o.positional})
    return settings_from(argparse.Namespace(**values))


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-send each recorded connection's client frames to the target, in order, and judge what comes back."""
    from conformance.cli.plugin import write_report  # not at the top: pytest imports it first, to rewrite its asserts

    plans = plans_of(Path(args.file), args.timeout)
    settings = replay_settings(args)
    safe = redactor(settings.auth.secrets)
    report_dir = Path(args.report_dir)
    outcome = replay(settings, plans, report_dir / "transcripts")
    write_report(outcome, report_dir)
    print_results(outcome.results, safe)
    sent = sum(len(p.updates) for p in plans)
    where = safe.url(outcome.url)
    if outcome.failure is not None:
        fail(safe.text(f"replay: the target could not be tested: {outcome.failure.message}; report: {report_dir}"))
        return Exit.UNREACHABLE
    print(f"replay: {outcome.verdict} — {len(plans)} connection(s), {sent} client frame(s) re-sent to {where}")
    print(f"report: {report_dir}")
    return Exit.CONFORMANT if outcome.verdict == "conformant" else Exit.NON_CONFORMANT

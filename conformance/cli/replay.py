"""`realtime-conformance replay`: re-send a recorded run's client frames to a target and judge the answers."""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

from conformance.cli.ending import unfinished
from conformance.cli.exits import Exit, UsageError, fail
from conformance.cli.options import REPLAY_OPTIONS, RUN_OPTIONS
from conformance.cli.settings_check import settings_from
from conformance.cli.table import print_results
from conformance.contract import DIALECTS
from conformance.generate.plan import Plan
from conformance.readers import MANIFEST_BYTES, TRANSCRIPT_BYTES, ReadError, parse_json, read_text
from conformance.redact import LONE_SURROGATE, redactor
from conformance.run.replay import replay, replay_plans
from conformance.run.settings import Settings
from conformance.transcript import TranscriptError, parse_jsonl

BUNDLE_TRANSCRIPTS = "transcripts/all.jsonl"
BUNDLE_MANIFEST = "manifest.json"


def replay_text(path: Path) -> str:
    """The transcript text of FILE: a .jsonl file, a bundle folder, or a bundle archive (read, never extracted)."""
    if not path.is_dir() and not (path.is_file() and tarfile.is_tarfile(path)):
        try:
            return read_text(path, TRANSCRIPT_BYTES)
        except ReadError as exc:
            raise UsageError(str(exc)) from None
    text = bundle_member(path, BUNDLE_TRANSCRIPTS, TRANSCRIPT_BYTES)
    if text is None:
        raise UsageError(f"{path}: no readable {BUNDLE_TRANSCRIPTS} in this {'folder' if path.is_dir() else 'archive'}")
    return text


def bundle_member(path: Path, name: str, limit: int) -> str | None:
    """The text of a bundle's file ending in `name` (a folder's or an archive's, never extracted); None if absent."""
    if path.is_dir():
        found = sorted(path.rglob(name), key=lambda p: (len(p.parts), p))
        if not found:
            return None
        try:
            return read_text(found[0], limit)
        except ReadError as exc:
            raise UsageError(str(exc)) from None
    try:
        with tarfile.open(path) as archive:
            named = [m for m in archive.getmembers() if m.name == name or m.name.endswith("/" + name)]
            member = min(named, key=lambda m: m.name.count("/"), default=None)  # the bundle's own, not a nested one
            if member is None or not member.isfile() or member.size > limit:
                return None
            data = archive.extractfile(member)
            assert data is not None
            return data.read().decode("utf-8", errors="surrogateescape")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"{path}: not a readable bundle archive ({exc})") from None


def recorded_settings(path: Path) -> tuple[str | None, tuple[str, ...]]:
    """The dialect and model names a certification bundle's manifest records (None, () for a plain transcript)."""
    if not path.is_dir() and not (path.is_file() and tarfile.is_tarfile(path)):
        return None, ()
    text = bundle_member(path, BUNDLE_MANIFEST, MANIFEST_BYTES)
    if text is None:
        return None, ()
    try:
        settings = parse_json(text, BUNDLE_MANIFEST).get("settings", {})
        dialect, names = settings.get("dialect"), tuple(settings.get("model_names", ()))
    except (ValueError, AttributeError, TypeError):
        raise UsageError(f"{path}: its {BUNDLE_MANIFEST} is not a bundle manifest") from None
    if (dialect is not None and dialect not in DIALECTS) or not all(isinstance(n, str) for n in names):
        raise UsageError(f"{path}: its {BUNDLE_MANIFEST} records an unknown dialect or malformed model names")
    return dialect, names


def plans_of(path: Path, timeout_s: float) -> list[Plan]:
    """The plans FILE's recorded connections make (`replay_plans`), or a usage error."""
    try:
        plans = replay_plans(parse_jsonl(replay_text(path), default_timeout_s=timeout_s))
    except TranscriptError as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not plans:
        raise UsageError(f"{path}: no client frame to replay")
    for plan in plans:  # no client of ours sends one; a text frame must be UTF-8 (websockets failed inside)
        for number, text in enumerate(plan.updates, start=1):
            if not text.isascii() and LONE_SURROGATE.search(text):
                message = f"client frame {number} of {plan.label!r} is not valid Unicode (a lone surrogate)"
                raise UsageError(f"{path}: {message}: it cannot be sent as a text frame")
    return plans


def replay_settings(args: argparse.Namespace) -> Settings:
    """The run's settings: the replay options given, every other run option at its default."""
    values = {o.dest: o.argparse_kwargs(o.default)["default"] for o in RUN_OPTIONS if not o.positional}
    values.update({o.dest: getattr(args, o.dest) for o in REPLAY_OPTIONS if not o.positional})
    dialect, model_names = recorded_settings(Path(args.file))  # a bundle's: what it was judged by
    values["dialect"] = values["dialect"] or dialect  # an explicit --dialect or --model-name wins
    values["model_name"] = values["model_name"] or list(model_names)
    return settings_from(argparse.Namespace(**values))


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-send each recorded connection's client frames to the target, in order, and judge what comes back."""
    from conformance.cli.plugin import write_report  # not at the top: pytest imports it first, to rewrite its asserts

    settings = replay_settings(args)
    plans = plans_of(Path(args.file), settings.timeout_s)
    safe = redactor(settings.auth.secrets)
    report_dir = Path(args.report_dir)
    outcome = replay(settings, plans, report_dir / "transcripts", source=Path(args.file))
    write_report(outcome, report_dir)
    print_results(outcome.results, safe)
    sent = sum(len(p.updates) for p in plans)
    where = safe.url(outcome.url)
    print(f"replay: {outcome.verdict} — {len(plans)} connection(s), {sent} client frame(s) re-sent to {where}")
    print(f"report: {report_dir}")
    if outcome.failure is not None and outcome.internal_error is None:
        fail(safe.text(f"replay: the target could not be tested: {outcome.failure.message}; report: {report_dir}"))
        return Exit.UNREACHABLE
    code = unfinished(outcome, args, report_dir, safe)  # the exit codes of `run`: 4, 130, 3
    if code is not None:
        return code
    return Exit.CONFORMANT if outcome.verdict == "conformant" else Exit.NON_CONFORMANT

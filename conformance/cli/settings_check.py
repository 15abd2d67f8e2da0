"""The run's settings from parsed options: what the option table could not check (files, the
environment, a rerun's recorded run). Shared by the command line and the pytest plugin, so both
check a value the same way."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from conformance.certify import KeyFileError, load_private_key
from conformance.cli.exits import UsageError as UsageError  # the plugin's and the commands' one error
from conformance.cli.options import RUN_OPTIONS
from conformance.cli.paths import check_ca_file, check_report_dir, not_a_file
from conformance.contract import DEFAULT_DIALECT, load_contract
from conformance.readers import SUMMARY_BYTES, parse_json, read_text
from conformance.run.runner import Politeness
from conformance.run.settings import (
    LIVE_CONCURRENCY,
    LIVE_LISTENING,
    MOCK_CONCURRENCY,
    Profile,
    Settings,
    default_rate,
    default_timeout,
)
from conformance.verdict.baseline import BaselineError, Expected, load_baseline
from conformance.wire.auth import auth_from_env


def env_secret(name: str, option: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise UsageError(f"{option} {name}: the environment variable {name} is not set or empty")
    return value


def settings_from(args: argparse.Namespace) -> Settings:
    # Types, ranges and choices were checked by the option table (conformance/cli/options.py) as the
    # command line and the settings file were read; what is left needs the file system or the environment.
    target = args.target
    seed, profile, selected, dialect = args.seed, args.profile, None, args.dialect
    if args.rerun_failed:
        seed, profile, selected, recorded, recorded_dialect = last_failures(
            Path(args.report_dir), args.seed, given_target=bool(target)
        )
        target = target or recorded  # the recorded target, unless one is given explicitly
        dialect = dialect or recorded_dialect  # likewise the recorded dialect: its requirement IDs are the failed ones
    args.dialect = dialect = dialect or DEFAULT_DIALECT
    args.target = target = target or "mock"  # no --target on the command line or in a settings file
    live = target != "mock"
    if args.concurrency is None:
        args.concurrency = LIVE_CONCURRENCY if live else MOCK_CONCURRENCY
    rate = args.rate if args.rate is not None else default_rate(target)
    if args.timeout is None:
        args.timeout = default_timeout(target)
    if args.ca_file:
        check_ca_file(args.ca_file)
    check_report_dir(Path(args.report_dir))
    if args.max_connection_bytes < args.max_frame_bytes or args.max_run_bytes < args.max_connection_bytes:
        raise UsageError("expected --max-frame-bytes <= --max-connection-bytes <= --max-run-bytes")
    try:
        auth = auth_from_env(args.api_key_env, args.iam_token_env, args.header, target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    baseline = expected_failures(args.expected_failures, dialect)
    if args.sign_key:
        check_sign_key(args.sign_key)
    return Settings(
        target=target,
        profile=profile,
        seed=seed,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
        models=tuple(args.model),
        model_names=tuple(args.model_name),
        dialect=dialect,
        auth=auth,
        strict=args.strict,
        connections=args.connections,
        concurrency=args.concurrency,
        min_exercised=args.min_exercised,
        shrink_budget_s=args.shrink_budget_s,
        auth_spec=(args.api_key_env, args.iam_token_env, tuple(args.header)),
        baseline=baseline,
        baseline_file=args.expected_failures or "",
        strict_baseline=args.strict_baseline,
        selected=selected,
        ca_file=args.ca_file,
        insecure=args.insecure,
        max_frame_bytes=args.max_frame_bytes,
        max_connection_bytes=args.max_connection_bytes,
        max_run_bytes=args.max_run_bytes,
        politeness=Politeness(
            rate,
            args.max_exchanges,
            args.budget_s,
            args.connect_retries,
            max_listening=LIVE_LISTENING if live else Politeness.max_listening,
        ),
    )


def expected_failures(name: str | None, dialect: str) -> tuple[Expected, ...] | None:
    """The known-failure baseline of --expected-failures, checked against the catalogue's IDs."""
    if not name:
        return None
    try:
        return tuple(load_baseline(Path(name), set(load_contract(None, dialect).ids)))
    except BaselineError as exc:
        raise UsageError(str(exc)) from None


def check_sign_key(name: str) -> None:
    """--sign-key must be an Ed25519 private key we can read, found before the run, not after it."""
    problem = not_a_file(Path(name))
    if problem is not None:
        raise UsageError(f"--sign-key {name}: {problem} (make a pair with `realtime-conformance keygen`)")
    try:
        load_private_key(Path(name))
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None


def last_failures(
    report_dir: Path, seed: int | None, given_target: bool = False
) -> tuple[int | None, Profile, tuple[str, ...], str, str]:
    """Seed, profile, failed requirement IDs, target and dialect of the last full run in `report_dir` (--rerun-failed).

    The recorded target is its public URL: one whose credentials or secret query values were masked
    cannot be reached again as written, so it is refused unless --target names it (`given_target`).
    """
    path = report_dir / "summary.json"
    options = {option.name: option for option in RUN_OPTIONS}
    try:
        last = parse_json(read_text(path, SUMMARY_BYTES), str(path))
        failed = tuple(str(r["id"]) for r in last["requirements"] if r["status"] == "failed")
        last_seed = options["seed"].check(last["seed"]) if isinstance(last["seed"], int) else None
        profile = options["profile"].check(last["profile"])
        kind, url = str(last["target"]["kind"]), str(last["target"]["url"])
        spec = last.get("spec")  # a summary from before dialects records none: the default's
        dialect = str(spec.get("dialect", DEFAULT_DIALECT)) if isinstance(spec, dict) else DEFAULT_DIALECT
        dialect = options["dialect"].check(dialect)
    except (ValueError, KeyError, TypeError):  # ReadError and OptionError are ValueErrors
        raise UsageError(f"--rerun-failed: no readable {path} from an earlier run") from None
    if last.get("selected") is not None:
        raise UsageError(f"--rerun-failed: {path} is a rerun's; rerun from the full run's report dir")
    recorded = "mock" if kind == "mock" else url
    if not given_target:  # a target given again is used whatever the recorded one was
        try:
            options["target"].check(recorded)
        except ValueError:
            raise UsageError(f"--rerun-failed: {path} records no usable target; give --target") from None
        if "REDACTED" in recorded:
            raise UsageError(
                f"--rerun-failed: the recorded target {recorded} was masked; give --target with the real URL"
            )
    return (seed if seed is not None else last_seed), profile, failed, recorded, dialect

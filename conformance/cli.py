"""The `realtime-conformance` command line: stable options and exit codes for CI (DESIGN)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.checks import judge_all
from conformance.config import ConfigError, apply_config
from conformance.contract import load_contract, spec_hash
from conformance.engine import Settings
from conformance.redact import NO_SECRETS, Redactor, public_url, redactor
from conformance.results import RequirementResult, evaluate, verdict_of
from conformance.runner import Politeness
from conformance.transcript import TranscriptError, parse_jsonl


class Exit(IntEnum):
    CONFORMANT = 0
    NON_CONFORMANT = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERNAL = 4


INTERRUPTED = 130  # Ctrl-C: the conventional code; whatever ran is still reported


class UsageError(Exception):
    """A mistake of the user's: printed as one line, exit 2."""


def fail(message: str) -> None:
    print(f"realtime-conformance: error: {message}", file=sys.stderr)


def cmd_requirements(args: argparse.Namespace) -> int:
    contract = load_contract()
    if args.format == "json":
        doc = {
            "version": contract.version,
            "spec_hash": spec_hash(),
            "requirements": [r.to_json() for r in contract.requirements],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return Exit.CONFORMANT
    width = max(len(r.id) for r in contract.requirements)
    print(f"{'ID':<{width}}  LEVEL   SCOPE     PATH                               TITLE")
    for r in contract.requirements:
        print(f"{r.id:<{width}}  {r.level:<6}  {r.scope:<8}  {r.path:<33}  {r.title}")
    print(f"\n{len(contract.requirements)} requirements, catalogue {contract.version}, spec {spec_hash()[:12]}")
    return Exit.CONFORMANT


def print_results(results: list[RequirementResult], safe: Redactor = NO_SECRETS) -> None:
    """The closing table: every requirement with its status, failures with their first messages (masked)."""
    width = max(len(r.requirement.id) for r in results)
    print(f"{'STATUS':<8} {'LEVEL':<6} {'ID':<{width}} {'EXCHANGES':>9}  DETAIL")
    for result in sorted(results, key=lambda r: ("failed", "skipped", "passed").index(r.status)):
        r = result.requirement
        detail = safe.text(result.violations[0].message if result.violations else result.reason or r.title)
        print(f"{result.status:<8} {r.level:<6} {r.id:<{width}} {result.exercised:>9}  {detail[:100]}")
        for v in result.violations[1:3]:
            print(f"{'':<{width + 28}}{safe.text(v.message)[:100]}")
        if len(result.violations) > 3:
            print(f"{'':<{width + 28}}… and {len(result.violations) - 3} more (summary.json)")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "skipped")}
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        transcripts = parse_jsonl(content, default_timeout_s=args.timeout)
    except TranscriptError as exc:
        raise UsageError(f"{path}: {exc}") from None
    contract = load_contract(tuple(args.model_name) or None)
    results = evaluate(contract, judge_all(transcripts, contract))
    print_results(results)
    verdict = verdict_of(results, strict=args.strict)
    print(f"verdict: {verdict} ({len(transcripts)} connection(s) judged offline)")
    return Exit.CONFORMANT if verdict == "conformant" else Exit.NON_CONFORMANT


def env_secret(name: str, option: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise UsageError(f"{option} {name}: the environment variable {name} is not set or empty")
    return value


def cmd_mock(args: argparse.Namespace) -> int:
    from conformance.mock import DEFAULT_MODEL, FAULTS, MockConfig, lookup, serve_mock

    if args.list_faults:
        width = max(len(f.name) for f in FAULTS)
        for fault in FAULTS:
            trips = ", ".join(fault.trips) or f"(no requirement: the run ends with {fault.outcome})"
            if fault.may_trip:
                trips += f" (and may trip {', '.join(fault.may_trip)})"
            print(f"{fault.name:<{width}}  {fault.description}\n{'':<{width}}  trips: {trips}")
        return Exit.CONFORMANT
    try:
        faults = lookup(args.fault)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    api_key = env_secret(args.require_api_key_env, "--require-api-key-env") if args.require_api_key_env else None
    config = MockConfig(
        models=tuple(args.model) or (DEFAULT_MODEL,),
        faults=faults,
        api_key=api_key,
        late_s=args.late_s,
        host=args.host,
        port=args.port,
    )

    async def serve_forever() -> None:
        async with serve_mock(config) as url:
            print(f"reference mock listening on {url}", flush=True)
            print(f"models: {', '.join(config.models)}", flush=True)
            print(
                f"faults: {', '.join(f.name for f in faults) or 'none'}; auth: "
                f"{'api-key from $' + args.require_api_key_env if api_key else 'none'}; Ctrl-C stops",
                flush=True,
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(serve_forever())
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return Exit.CONFORMANT


SUITE_DIR = Path(__file__).resolve().parent / "suite"


def settings_from(args: argparse.Namespace) -> Settings:
    from conformance.plugin import auth_from_env

    target = args.target
    if target != "mock" and not target.startswith(("ws://", "wss://")):
        raise UsageError(f"--target {public_url(target)!r}: expected mock, ws://… or wss://…")
    for option in ("timeout", "connect_timeout"):
        if getattr(args, option) <= 0:
            raise UsageError(f"--{option.replace('_', '-')} must be a positive number of seconds")
    if args.concurrency is None:
        args.concurrency = 16 if target == "mock" else 1
    if args.connections < 1 or args.concurrency < 1 or args.min_exercised < 1:
        raise UsageError("--connections, --concurrency and --min-exercised must be at least 1")
    for option in ("rate", "max_exchanges", "budget_s"):
        value = getattr(args, option)
        if value is not None and value <= 0:
            raise UsageError(f"--{option.replace('_', '-')} must be positive")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.connect_retries < 0 or args.max_frame_bytes < 1024:
        raise UsageError("--connect-retries must be 0 or more and --max-frame-bytes at least 1024")
    if args.ca_file and not Path(args.ca_file).is_file():
        raise UsageError(f"--ca-file {args.ca_file}: no such file")
    try:
        auth = auth_from_env(args.api_key_env, args.iam_token_env, args.header, target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    baseline = None
    if args.expected_failures:
        from conformance.baseline import BaselineError, load_baseline

        try:
            baseline = tuple(load_baseline(Path(args.expected_failures), set(load_contract().ids)))
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
    seed, profile, selected = args.seed, args.profile, None
    if args.rerun_failed:
        seed, profile, selected = last_failures(Path(args.report_dir), args.seed)
    if args.sign_key and not Path(args.sign_key).is_file():
        raise UsageError(f"--sign-key {args.sign_key}: no such file (make a pair with `realtime-conformance keygen`)")
    return Settings(
        target=target,
        profile=profile,
        seed=seed,
        timeout_s=args.timeout,
        connect_timeout_s=args.connect_timeout,
        models=tuple(args.model),
        model_names=tuple(args.model_name),
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
        politeness=Politeness(args.rate, args.max_exchanges, args.budget_s, args.connect_retries),
    )


def last_failures(report_dir: Path, seed: int | None) -> tuple[int | None, Any, tuple[str, ...]]:
    """Seed, profile and failed requirement IDs of the last run in `report_dir` (for --rerun-failed)."""
    path = report_dir / "summary.json"
    try:
        last = json.loads(path.read_text(encoding="utf-8"))
        failed = tuple(r["id"] for r in last["requirements"] if r["status"] == "failed")
        return (seed if seed is not None else last["seed"]), last["profile"], failed
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"--rerun-failed: no readable {path} from an earlier run") from None


def clear_previous(report_dir: Path) -> None:
    """Remove the previous run's outputs (not its history), so nothing stale is reported."""
    for name in ("allure-results", "allure-report", "transcripts", "certificate"):
        shutil.rmtree(report_dir / name, ignore_errors=True)
    for name in ("allure-report.html", "junit.xml", "summary.json", "summary.md", "badge.svg", "certificate.tar.gz"):
        (report_dir / name).unlink(missing_ok=True)


SHARDS_DIR = Path(__file__).resolve().parent / "shards"
#: The pytest plugins a run needs; nothing else installed is loaded (each costs start-up time, and a
#: stranger plugin could change how the suite behaves).
RUN_PLUGINS = ("conformance.plugin", "allure_pytest.plugin")


def run_pytest(args: list[str], plugins: list[object]) -> int:
    """pytest.main with only our plugins (and xdist's workers get the same environment)."""
    import pytest

    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        preload = [arg for name in RUN_PLUGINS for arg in ("-p", name)]
        return int(pytest.main([*preload, *args], plugins=plugins))
    finally:
        if previous is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def run_on_workers(settings: Settings, workers: int, xdist_options: list[str], say: Any) -> Any:
    """Run the exchanges on `workers` pytest-xdist workers and merge them (None: a worker failed)."""
    import time
    from datetime import UTC, datetime

    from conformance.distribute import ShardCollector, ShardSpec
    from conformance.engine import finish, new_seed

    seed = new_seed(settings)
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    spec = ShardSpec.of(settings, seed, workers)
    collector = ShardCollector()
    say(f"spreading the connections over {workers} workers (pytest-xdist), seed {seed}")
    code = run_pytest(
        [
            str(SHARDS_DIR),
            "-c",
            str(SHARDS_DIR / "pytest.ini"),
            "--rootdir",
            str(SHARDS_DIR),
            "-p",
            "xdist.plugin",
            "-n",
            str(workers),
            *xdist_options,
            "-p",
            "no:terminal",
            "--rc-shards",
            spec.to_json(),
        ],
        plugins=[collector],
    )
    if code != 0 or len(collector.received) != workers:
        fail(
            f"internal error: the workers returned {len(collector.received)} of {workers} shards (pytest exit {code}); "
            "this is a bug of realtime-conformance, please report it"
        )
        return None
    return finish(settings, seed, collector.shards(), started_at, started, say)


def cmd_run(args: argparse.Namespace) -> int:

    from conformance.plugin import ConformanceSession
    from conformance.report import render_html

    settings = settings_from(args)
    if DRAW_AHEAD and settings.profile != "smoke" and args.workers == 1:
        from dataclasses import replace

        from conformance.engine import new_seed
        from conformance.generate import draw_ahead

        settings = replace(settings, seed=new_seed(settings))
        assert settings.seed is not None
        draw_ahead(settings.seed, settings.connections)
    report_dir = Path(args.report_dir)
    if settings.selected == ():
        print(f"--rerun-failed: nothing failed in the last run in {report_dir}; nothing to rerun")
        return Exit.CONFORMANT
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        clear_previous(report_dir)
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: {exc.strerror or exc}") from None

    safe = redactor(settings.auth.secrets)  # every line printed below goes through it

    def say(line: str) -> None:
        if not args.quiet:
            try:
                print(safe.text(line), flush=True)
            except BrokenPipeError:  # `run | head`: the reader left; the run (and its report) go on
                args.quiet = True
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    say(
        f"realtime-conformance {__version__}: profile {settings.profile}, "
        f"target {safe.url(settings.target)}" + (f", seed {settings.seed}" if settings.seed is not None else "")
    )
    outcome = None
    if args.workers > 1:
        outcome = run_on_workers(settings, args.workers, args.xdist_option, say)
        if outcome is None:
            return Exit.INTERNAL
    session = ConformanceSession(settings, report_dir, say, outcome)
    pytest_args = [
        str(SUITE_DIR),
        "-c",
        str(SUITE_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "--capture=no",
        f"--junit-prefix={args.junit_prefix}" if args.junit_prefix else "--junit-prefix=",
        f"--alluredir={report_dir / 'allure-results'}",
        f"--junitxml={report_dir / 'junit.xml'}",
        "-o",
        "junit_suite_name=realtime-conformance",
        "-o",
        "junit_family=xunit2",
    ]
    run_pytest(pytest_args, [session])
    if session.internal_error is not None or session.outcome is None:
        print(safe.text(session.internal_error or "the suite did not run"), file=sys.stderr)
        fail("internal error: this is a bug of realtime-conformance; please report it with the output above")
        return Exit.INTERNAL
    outcome = session.outcome
    if settings.profile == "certify":
        from conformance.certify import KeyFileError, manifest_settings, masking_problem, write_bundle

        try:
            bundle = write_bundle(
                report_dir,
                manifest_settings(settings, outcome.log.tls_fingerprint),
                Path(args.sign_key) if args.sign_key else None,
                safe,
            )
        except KeyFileError as exc:
            raise UsageError(str(exc)) from None
        say(f"certification bundle: {bundle}" + (" (signed)" if args.sign_key else " (unsigned: give --sign-key)"))
        problem = masking_problem(report_dir)
        if problem is not None:
            print(f"realtime-conformance: warning: {safe.text(problem)}", file=sys.stderr)
    if not args.no_html:
        problem = render_html(report_dir, history=args.history)
        if problem is not None:
            print(safe.text(problem), file=sys.stderr)
    if not args.quiet:
        print()
        print_results(outcome.results, safe)
        failing = sorted((report_dir / "transcripts").glob("[0-9]*.jsonl"))
        for path in failing[:10]:
            print(f"re-judge: realtime-conformance validate {path}")
        if len(failing) > 10:
            print(f"… and {len(failing) - 10} more transcripts under {report_dir / 'transcripts'}")
    print(
        f"verdict: {outcome.verdict} — seed {outcome.seed}, {outcome.judgement.exchanges} exchanges, "
        f"{outcome.duration_s:.1f}s; report: {report_dir}"
    )
    if outcome.incomplete is not None:
        fail(safe.text(outcome.incomplete + credential_hint(outcome, args)))
    if outcome.interrupted:
        return INTERRUPTED
    if outcome.verdict == "error":
        return Exit.UNREACHABLE
    return Exit.CONFORMANT if outcome.verdict == "conformant" else Exit.NON_CONFORMANT


def credential_hint(outcome: Any, args: argparse.Namespace) -> str:
    """For a handshake refused with 401/403: which option or variable to set."""
    failure = outcome.failure
    if failure is None or failure.status not in (401, 403):
        return ""
    if not outcome.settings.auth.headers:
        return (
            f"; no credential was sent: set ${args.api_key_env} (or name another variable with --api-key-env, "
            f"or give an IAM token with --iam-token-env NAME)"
        )
    source = f"${args.iam_token_env}" if args.iam_token_env else f"${args.api_key_env}"
    return f"; the credential from {source} (or a --header) was rejected"


def cmd_report(args: argparse.Namespace) -> int:
    from conformance.report import render_html

    report_dir = Path(args.dir)
    if not (report_dir / "allure-results").is_dir():
        raise UsageError(
            f"{report_dir}: no allure-results/ here; run `realtime-conformance run --report-dir {report_dir}`"
        )
    problem = render_html(report_dir, history=args.history)
    if problem is not None:
        raise UsageError(problem)
    page = (report_dir / "allure-report.html").resolve()
    print(f"report: {report_dir / 'allure-report'}/index.html and {page}")
    if args.open:
        import webbrowser

        if not webbrowser.open(page.as_uri()):
            print(f"no browser to open it with; open {page.as_uri()}", file=sys.stderr)
    return Exit.CONFORMANT


def cmd_verify(args: argparse.Namespace) -> int:
    from conformance.certify import BundleError, KeyFileError, VersionMismatch, verify

    bundle = Path(args.bundle)
    if not bundle.exists():
        raise UsageError(f"{bundle}: no such bundle")
    try:
        checked = verify(bundle, Path(args.public_key) if args.public_key else None)
    except (KeyFileError, VersionMismatch) as exc:
        raise UsageError(str(exc)) from None
    except BundleError as exc:
        print(f"NOT VERIFIED: {exc}")
        return Exit.NON_CONFORMANT
    signature = "signature valid" if checked.signed else "not signature-checked (give --public-key)"
    print(
        f"VERIFIED: {checked.files} files intact, {signature}; {checked.connections} connections re-judged "
        f"offline: {checked.verdict}"
    )
    return Exit.CONFORMANT


def cmd_keygen(args: argparse.Namespace) -> int:
    from conformance.certify import KeyFileError, keygen

    private = Path(args.private)
    public = Path(args.public) if args.public else private.with_suffix(".pub.pem")
    try:
        keygen(private, public)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    print(f"private key: {private} (keep it secret; sign with run --sign-key {private})")
    print(f"public key:  {public} (give it to whoever verifies: verify BUNDLE --public-key {public})")
    return Exit.CONFORMANT


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="realtime-conformance",
        description="Conformance suite for the Realtime API session configuration exchange "
        "(session.update -> session.updated | error).",
        epilog="Exit codes: 0 conformant, 1 non-conformant, 2 usage or configuration error, "
        "3 target unreachable or handshake failed, 4 internal error (please report it).",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the conformance suite against a target (default: the embedded mock)",
        description="Run the suite: exchanges over a real WebSocket, a verdict per requirement, reports in "
        "--report-dir (summary.json, junit.xml, allure-results/, allure-report/, allure-report.html, transcripts/).",
        epilog="Exit codes: 0 conformant, 1 non-conformant, 2 usage error, 3 target unreachable, handshake failed "
        "or not fully testable, 4 internal error, 130 interrupted (the report of what ran is still written). "
        "Secrets are read from environment variables only, never from the command line. "
        "Every option can also be set in a TOML file: realtime-conformance.toml in the current directory, or "
        "[tool.realtime-conformance] in ./pyproject.toml, or --config FILE; keys are option names "
        '(profile = "full", timeout = 3, header = ["X-Env:env:TEAM"]); strings may use ${ENV} '
        "(expanded from the environment); the command line wins.",
    )
    run.add_argument(
        "--target",
        default="mock",
        help="mock (the embedded reference mock, default) or a ws:// or "
        "wss:// URL, used as given (path and query included)",
    )
    run.add_argument(
        "--profile",
        choices=("smoke", "full", "certify"),
        default="smoke",
        help="smoke: the scripted exchanges (seconds); full: plus generated ones; certify: full, and every "
        "MUST exercised at least --min-exercised times (default: smoke)",
    )
    run.add_argument("--seed", type=int, help="seed of the generated exchanges (default: random, printed)")
    run.add_argument("--report-dir", default="reports", help="where the reports go (default: reports/)")
    run.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="URI",
        help="a model the target accepts (repeatable); also taken from session.created and the URL's model query",
    )
    run.add_argument(
        "--model-name",
        action="append",
        default=[],
        metavar="NAME",
        help="a supported model name (repeatable; default: speech-realtime-250923)",
    )
    run.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each answer (default: 5)")
    run.add_argument(
        "--connect-timeout", type=float, default=10.0, help="seconds for connect and handshake (default: 10)"
    )
    run.add_argument("--strict", action="store_true", help="SHOULD failures also make the verdict non-conformant")
    run.add_argument(
        "--api-key-env",
        default="REALTIME_API_KEY",
        metavar="NAME",
        help="environment variable with an API key, sent as 'Authorization: api-key …' (default: REALTIME_API_KEY)",
    )
    run.add_argument(
        "--iam-token-env", metavar="NAME", help="environment variable with an IAM token, sent as 'Bearer …'"
    )
    run.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="extra handshake header (repeatable); VALUE may be env:NAME to read it from the environment",
    )
    run.add_argument("--connections", type=int, default=40, help="generated connections in full/certify (default: 40)")
    run.add_argument(
        "--concurrency",
        "--max-connections",
        dest="concurrency",
        type=int,
        default=None,
        help="connections open at once (default: 16 against the embedded mock, 1 against a live target)",
    )
    run.add_argument("--rate", type=float, help="at most this many updates per second, over all connections")
    run.add_argument("--max-exchanges", type=int, help="send at most this many updates in the whole run")
    run.add_argument("--budget-s", type=float, help="stop starting new exchanges after this many seconds")
    run.add_argument(
        "--connect-retries",
        type=int,
        default=2,
        help="retries of a refused or timed-out connect, with backoff 0.5s, 1s, 2s… (default: 2)",
    )
    run.add_argument("--max-frame-bytes", type=int, default=1 << 20, help="largest frame accepted (default: 1 MiB)")
    run.add_argument("--ca-file", metavar="FILE", help="wss://: trust the CA certificates in this PEM file too")
    run.add_argument("--insecure", action="store_true", help="wss://: do not verify the server certificate")
    run.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (default: ./realtime-conformance.toml, else [tool.realtime-conformance] "
        "in ./pyproject.toml)",
    )
    run.add_argument(
        "--min-exercised", type=int, default=3, help="certify: times each MUST must be exercised (default: 3)"
    )
    run.add_argument(
        "--shrink-budget-s",
        type=float,
        default=10.0,
        help="seconds to spend shrinking failing generated exchanges (default: 10; 0 disables)",
    )
    run.add_argument("--no-html", action="store_true", help="skip rendering the Allure HTML report")
    run.add_argument(
        "--history",
        action="store_true",
        help="keep history across runs in the same report dir (report-dir/history.jsonl), for trends",
    )
    run.add_argument("--quiet", action="store_true", help="print only the verdict line (for CI logs)")
    run.add_argument("--sign-key", metavar="FILE", help="certify: sign the bundle with this Ed25519 private key (PEM)")
    run.add_argument(
        "--expected-failures",
        metavar="FILE",
        help="known-failure baseline (YAML or JSON: id, reason, optional expires YYYY-MM-DD, link): "
        "only failures not listed fail the run",
    )
    run.add_argument(
        "--strict-baseline",
        action="store_true",
        help="also fail when a listed failure now passes (fixed) or an entry has expired",
    )
    run.add_argument(
        "--rerun-failed",
        action="store_true",
        help="rerun only the requirements that failed in --report-dir's last summary, with its seed",
    )
    run.add_argument("--junit-prefix", default="", metavar="PREFIX", help="prefix for the JUnit class names")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="spread the connections over N processes with pytest-xdist, merged into one report (default: 1)",
    )
    run.add_argument(
        "--xdist-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="pass an option to pytest-xdist, e.g. --xdist-option=--tx=ssh=host//python=python3 for "
        "remote workers (repeatable)",
    )
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser(
        "report",
        help="re-render the Allure HTML report of a report dir",
        description="Render DIR/allure-report/ and DIR/allure-report.html from DIR/allure-results/ with the "
        "project's Allure Report 3 CLI (npm package allure, in node_modules).",
    )
    rep.add_argument("dir", help="a report dir written by `run`")
    rep.add_argument("--open", action="store_true", help="open the single-file report in a browser")
    rep.add_argument("--history", action="store_true", help="append this rendering to DIR/history.jsonl (trends)")
    rep.set_defaults(func=cmd_report)

    ver = sub.add_parser(
        "verify",
        help="check a certification bundle and re-judge it offline",
        description="Check every file's sha256 and (with --public-key) the Ed25519 signature of a certification "
        "bundle, then re-judge its transcripts offline. Exit 0 only when the files are intact and the "
        "recomputed verdict is the recorded one; 1 names what differs; 2 for a usage error.",
    )
    ver.add_argument("bundle", help="certificate.tar.gz or its unpacked certificate/ folder")
    ver.add_argument("--public-key", metavar="FILE", help="the certifier's Ed25519 public key (PEM)")
    ver.set_defaults(func=cmd_verify)

    key = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    key.add_argument("--private", default="realtime-conformance-key.pem", help="private key file to write")
    key.add_argument("--public", help="public key file to write (default: PRIVATE with .pub.pem)")
    key.set_defaults(func=cmd_keygen)

    req = sub.add_parser("requirements", help="print the requirement catalogue")
    req.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    req.set_defaults(func=cmd_requirements)

    val = sub.add_parser(
        "validate",
        help="judge a recorded transcript offline",
        description="Judge a recorded transcript (JSONL: one frame a line with direction, time and text; "
        "a header line {'transcript': 1, 'timeout_s': …, 'models': […]} starts each connection).",
    )
    val.add_argument("file", help="the transcript file (.jsonl)")
    val.add_argument("--timeout", type=float, default=5.0, help="seconds, for frames without a header (default: 5)")
    val.add_argument(
        "--model-name",
        action="append",
        default=[],
        metavar="NAME",
        help="a supported model name (repeatable; default: the documented one)",
    )
    val.add_argument("--strict", action="store_true", help="SHOULD failures also make it non-conformant")
    val.set_defaults(func=cmd_validate)

    mock = sub.add_parser(
        "mock",
        help="serve the reference mock (optionally misbehaving)",
        description="Serve the reference mock on 127.0.0.1 until Ctrl-C: it speaks the protocol as documented; "
        "each --fault makes it misbehave in exactly one way.",
    )
    mock.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    mock.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    mock.add_argument("--fault", action="append", default=[], metavar="NAME", help="misbehave this way (repeatable)")
    mock.add_argument("--list-faults", action="store_true", help="list the faults and the requirements they trip")
    mock.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="URI",
        help="a model the mock accepts (repeatable; default: a demo folder's speech-realtime-250923)",
    )
    mock.add_argument(
        "--require-api-key-env",
        metavar="NAME",
        help="accept only 'Authorization: api-key <$NAME>' or 'Bearer <$NAME>' (else HTTP 401)",
    )
    mock.add_argument("--late-s", type=float, default=6.0, help="delay of the answers-late fault (default: 6)")
    mock.set_defaults(func=cmd_mock)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    root = parser()
    try:
        if argv[:1] == ["run"]:
            commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
            apply_config(commands.choices["run"], argv[1:])
    except ConfigError as exc:
        fail(str(exc))
        return Exit.USAGE
    args = root.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        fail(str(exc))
        return Exit.USAGE
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except BrokenPipeError:  # `realtime-conformance requirements | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.CONFORMANT


DRAW_AHEAD = False  # set by console_main: only a whole CLI process may fork a drawing child


def console_main() -> None:
    """The console script: a whole process for one command, so the start-up heap can be frozen
    and the corpus drawn ahead in a forked child."""
    import gc

    global DRAW_AHEAD
    DRAW_AHEAD = True
    gc.collect()
    gc.freeze()  # the imported modules are never garbage: spare every collection from scanning them
    sys.exit(main())


if __name__ == "__main__":
    console_main()

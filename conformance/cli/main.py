"""The `realtime-conformance` command line: stable options and exit codes for CI (DESIGN)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import time
import traceback
import webbrowser
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

from conformance import __version__, progress, signals
from conformance.certify import (
    BundleError,
    KeyFileError,
    VersionMismatch,
    keygen,
    manifest_settings,
    masking_problem,
    verify,
    write_bundle,
)
from conformance.checks import Violation, judge_all
from conformance.cli.config import ConfigError, apply_config
from conformance.cli.dialect_diff import add_diff_command
from conformance.cli.options import (
    KEYGEN_OPTIONS,
    MOCK_OPTIONS,
    REPORT_OPTIONS,
    REQUIREMENTS_OPTIONS,
    RUN_OPTIONS,
    VALIDATE_OPTIONS,
    VERIFY_OPTIONS,
    Option,
    add_options,
)
from conformance.cli.settings_check import (
    UsageError,
    check_writable,
    env_secret,
    settings_from,
)
from conformance.contract import DIALECTS, load_contract, spec_hash
from conformance.generate.corpus import draw_ahead
from conformance.generate.plan import Plan
from conformance.mock import FAULTS, MockConfig, for_dialect, lookup, serve_mock
from conformance.readers import SUMMARY_BYTES, TRANSCRIPT_BYTES, ReadError, parse_json, read_text
from conformance.redact import NO_SECRETS, Redactor, public_url, redactor
from conformance.reports.html import render_html
from conformance.run.distribute import ShardCollector, ShardSpec
from conformance.run.engine import Settings, finish, new_seed, target_for, target_url
from conformance.run.recorder import judge_file
from conformance.run.runner import run_plans
from conformance.staging import Staging
from conformance.transcript import TranscriptError, parse_jsonl
from conformance.verdict import Policy, PolicyError, decide, not_run_of
from conformance.verdict.results import RequirementResult


class Exit(IntEnum):
    CONFORMANT = 0
    NON_CONFORMANT = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERNAL = 4


INTERRUPTED = 130  # Ctrl-C: the conventional code; whatever ran is still reported


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (the usage text is what --help is for), exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def one_line(message: str) -> str:
    """The message with its control characters (a newline in a value or a file name) escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)


def fail(message: str) -> None:
    print(f"realtime-conformance: error: {one_line(message)}", file=sys.stderr)


def cmd_requirements(args: argparse.Namespace) -> int:
    contract = load_contract(None, args.dialect)
    if args.format == "json":
        doc = {
            "version": contract.version,
            "spec_hash": spec_hash(),
            "dialect": contract.dialect,
            "requirements": [r.to_json() | {"sources": sources_by_dialect(r.id)} for r in contract.requirements],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return Exit.CONFORMANT
    width = max(len(r.id) for r in contract.requirements)
    print(f"{'ID':<{width}}  LEVEL   SCOPE     PATH                               TITLE")
    for r in contract.requirements:
        print(f"{r.id:<{width}}  {r.level:<6}  {r.scope:<8}  {r.path:<33}  {r.title}")
    sources = sorted({(r.source.document, r.source.url or "names no URL") for r in contract.requirements})
    print(
        f"\n{len(contract.requirements)} requirements of the {contract.dialect} dialect, "
        f"catalogue {contract.version}, spec {spec_hash()[:12]}"
    )
    for document, url in sources:
        print(f"source {document}: {url} (each requirement's section and quote: --format json)")
    return Exit.CONFORMANT


def sources_by_dialect(requirement_id: str) -> dict[str, Any]:
    """Where each dialect that has the requirement takes it from (`requirements --format json`)."""
    contracts = [load_contract(None, d) for d in DIALECTS]
    return {c.dialect: c.requirement(requirement_id).source.to_json() for c in contracts if requirement_id in c.ids}


def print_results(
    results: list[RequirementResult], safe: Redactor = NO_SECRETS, expected: frozenset[str] = frozenset()
) -> None:
    """The closing table: every requirement with its status (`expected` for a failure the baseline
    lists), how often it was exercised, and its first violations with the connection they are from."""
    width = max(len(r.requirement.id) for r in results)
    print(f"{'STATUS':<8} {'LEVEL':<6} {'ID':<{width}} {'EXERCISED':>9}  DETAIL")
    for result in sorted(results, key=lambda r: ("failed", "skipped", "passed").index(r.status)):
        r = result.requirement
        status = "expected" if result.status == "failed" and r.id in expected else result.status
        lines = [_violation_line(v, safe) for v in result.violations[:3]] or [safe.text(result.reason or r.title)]
        print(f"{status:<8} {r.level:<6} {r.id:<{width}} {result.exercised:>9}  {lines[0]}")
        for line in lines[1:]:
            print(f"{'':<{width + 28}}{line}")
        if result.violation_count > 3:
            print(f"{'':<{width + 28}}… and {result.violation_count - 3} more (summary.json)")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "skipped")}
    excused = sum(1 for r in results if r.status == "failed" and r.requirement.id in expected)
    tail = f" ({excused} of them expected)" if excused else ""
    print(f"{counts['passed']} passed, {counts['failed']} failed{tail}, {counts['skipped']} skipped")


def _violation_line(violation: Violation, safe: Redactor) -> str:
    where = f"[{violation.connection}] " if violation.connection else ""
    return safe.text(where + violation.message)[:120]


def own_command() -> str:
    """How the user can run this command again: its name when that is on PATH, else the path they ran."""
    invoked = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "realtime-conformance" else ""
    on_path = shutil.which("realtime-conformance")
    if invoked and (on_path is None or Path(on_path).resolve() != Path(invoked).resolve()):
        return invoked
    return "realtime-conformance"


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    policy, not_run = recorded_policy(Path(args.policy), args.strict) if args.policy else (Policy(args.strict), None)
    contract = load_contract(tuple(args.model_name) or None, args.dialect)
    try:  # connection by connection as the file is read: a transcript file may be any size
        tally = judge_file(path, contract, default_timeout_s=args.timeout)
    except TranscriptError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL byte
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    decision = decide(contract, tally.judgement(), policy, not_run, tally.omitted())
    print_results(list(decision.results), expected=frozenset(decision.baseline.expected if decision.baseline else ()))
    print(f"verdict: {decision.verdict} ({tally.connections} connection(s) judged offline)")
    if decision.verdict == "error":  # the recorded run was incomplete: never conformant
        return Exit.UNREACHABLE
    return Exit.CONFORMANT if decision.verdict == "conformant" else Exit.NON_CONFORMANT


def recorded_policy(path: Path, strict: bool) -> tuple[Policy, str | None]:
    """The verdict policy and the incompleteness a run recorded in its summary.json (--policy)."""
    if strict:
        raise UsageError("--strict and --policy: the recorded policy says whether the run was strict; give one")
    try:
        summary = parse_json(read_text(path, SUMMARY_BYTES), str(path))
        if not isinstance(summary, dict):
            raise PolicyError("at the top level: not a summary.json object")
        return Policy.from_json(summary.get("policy")), not_run_of(summary)
    except ReadError as exc:
        raise UsageError(str(exc)) from None
    except PolicyError as exc:
        raise UsageError(f"--policy {path}: its verdict policy is malformed {exc}") from None


def cmd_mock(args: argparse.Namespace) -> int:
    if args.list_faults:
        width = max(len(f.name) for f in FAULTS)
        for fault in (for_dialect(f, args.dialect) for f in FAULTS):
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
        models=tuple(args.model),
        dialect=args.dialect,
        faults=faults,
        api_key=api_key,
        late_s=args.late_s,
        host=args.host,
        port=args.port,
    )

    async def serve_forever() -> None:
        async with serve_mock(config) as url:
            print(f"reference mock listening on {url}", flush=True)
            print(f"dialect: {config.dialect}; models: {', '.join(config.accepted_models)}", flush=True)
            print(
                f"faults: {', '.join(f.name for f in faults) or 'none'}; auth: "
                f"{'api-key from $' + args.require_api_key_env if api_key else 'none'}; Ctrl-C stops",
                flush=True,
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(serve_forever())
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return Exit.CONFORMANT


SUITE_DIR = Path(__file__).resolve().parents[1] / "suite"


SHARDS_DIR = Path(__file__).resolve().parents[1] / "shards"
#: The pytest plugins a run needs; nothing else installed is loaded (each costs start-up time, and a
#: stranger plugin could change how the suite behaves).
#: The Allure results are written from the outcome (`reports.allure`), not by allure-pytest.
RUN_PLUGINS = ("conformance.cli.plugin",)


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


def run_on_workers(
    settings: Settings, workers: int, xdist_options: list[str], say: Any, directory: Path | None = None
) -> Any:
    """Run the exchanges on `workers` pytest-xdist workers and merge them into one `Outcome`.

    A worker that failed leaves its traceback in `outcome.internal_error` (exit 4); what the others
    ran is judged and reported all the same.
    """
    import pytest

    seed = new_seed(settings)
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    spec = ShardSpec.of(settings, seed, workers, directory)
    collector = ShardCollector()
    say(f"spreading the connections over {workers} workers (pytest-xdist), seed {seed}")
    code = int(pytest.ExitCode.INTERRUPTED)  # unless the workers run: a signal came first
    with signals.passed_to_workers(), progress.from_workers():
        code = (
            code
            if signals.received
            else run_pytest(
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
        )
    interrupted = code == pytest.ExitCode.INTERRUPTED or bool(signals.received)
    if code == pytest.ExitCode.USAGE_ERROR and not collector.received:
        shown = " ".join(xdist_options) or "(none)"
        raise UsageError(f"--xdist-option {shown}: pytest-xdist refused these options (its message is above)")
    if code != 0 and not collector.errors and not interrupted:
        collector.errors.append(f"pytest-xdist exited {code} with {len(collector.received)} of {workers} shards")
    url = public_url(settings.target, settings.auth.secrets)
    return finish(settings, seed, collector.shards(url, workers, interrupted), started_at, started, say, directory)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the suite; the report is staged beside the previous one and swapped in once written."""
    if DRAW_AHEAD:  # a whole CLI process: Ctrl-C and SIGTERM end the run the same way (signals.py)
        signals.install()
    settings = settings_from(args)
    if DRAW_AHEAD and settings.profile != "smoke" and args.workers == 1:
        settings = replace(settings, seed=new_seed(settings))
        assert settings.seed is not None
        draw_ahead(settings.seed, settings.connections)
    report_dir = Path(args.report_dir)
    if settings.selected is not None:  # a rerun goes beside the full report, which it never replaces
        report_dir = report_dir / RERUN_DIR
    if settings.selected == ():
        print(f"--rerun-failed: nothing failed in the last run in {report_dir}; nothing to rerun")
        return Exit.CONFORMANT
    staging = Staging(report_dir)
    try:
        work = staging.open()
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: {exc.strerror or exc}") from None
    try:
        with progress.shown(args.quiet):
            return run_into(settings, args, work, staging)
    finally:
        staging.close()


def run_into(settings: Settings, args: argparse.Namespace, work: Path, staging: Staging) -> int:
    """The run, its report written into `work`, then swapped into the report dir; the exit code."""
    from conformance.cli.plugin import (
        ConformanceSession,  # not at the top: pytest imports it first, to rewrite its asserts
    )

    report_dir = staging.report_dir

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
        try:
            outcome = run_on_workers(settings, args.workers, args.xdist_option, say, work / "transcripts")
        except UsageError:
            raise
        except Exception:  # judging what the workers sent failed: a bug of ours, shown as the serial run shows it
            print(traceback.format_exc(), file=sys.stderr)
            fail("internal error: this is a bug of realtime-conformance; please report it with the output above")
            return Exit.INTERNAL
    session = ConformanceSession(settings, work, say, outcome)
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
        f"--junitxml={work / 'junit.xml'}",
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
        try:
            bundle = write_bundle(
                work,
                manifest_settings(settings, outcome.log.tls_fingerprint),
                Path(args.sign_key) if args.sign_key else None,
                safe,
            )
        except KeyFileError as exc:
            raise UsageError(str(exc)) from None
        bundle = report_dir / bundle.relative_to(work)
        say(f"certification bundle: {bundle}" + (" (signed)" if args.sign_key else " (unsigned: give --sign-key)"))
        problem = masking_problem(work)
        if problem is not None:
            print(f"realtime-conformance: warning: {safe.text(problem)}", file=sys.stderr)
    if not args.no_html and not (outcome.interrupted or signals.received):
        try:
            with signals.armed():
                progress.begin("rendering")
                problem = render_html(work, history=args.history, shown_as=report_dir)
                progress.end("rendering")
        except KeyboardInterrupt:
            problem = "no HTML report: interrupted while rendering it"
        if problem is not None:
            print(safe.text(problem), file=sys.stderr)
    try:
        staging.swap()
    except OSError as exc:
        raise UsageError(f"--report-dir {report_dir}: cannot put the new report in place: {exc}") from None
    progress.close()
    if not args.quiet:
        print()
        print_results(outcome.results, safe, frozenset(outcome.baseline.expected if outcome.baseline else ()))
        failing = sorted((report_dir / "transcripts").glob("[0-9]*.jsonl"))
        for path in failing[:10]:
            print(f"re-judge: {own_command()} validate {path}")
        if len(failing) > 10:
            print(f"… and {len(failing) - 10} more transcripts under {report_dir / 'transcripts'}")
    if settings.selected is not None:
        rerun_code = rerun_result(outcome, report_dir, safe)
    else:
        print(
            f"verdict: {outcome.verdict} — seed {outcome.seed}, {outcome.judgement.exchanges} exchanges, "
            f"{outcome.duration_s:.1f}s; report: {report_dir}"
        )
    if outcome.internal_error is not None:
        print(outcome.internal_error, file=sys.stderr)
        fail(
            "internal error: this is a bug of realtime-conformance; please report it with the traceback above "
            f"(what ran is reported in {report_dir / 'summary.json'})"
        )
        return Exit.INTERNAL
    interrupted = outcome.interrupted or bool(signals.received)
    if outcome.incomplete is not None:
        fail(safe.text(outcome.incomplete + credential_hint(outcome, args)))
    elif interrupted:
        fail(f"interrupted ({signals.name()}) after the exchanges; the report of the whole run is written")
    if interrupted:
        return INTERRUPTED
    if outcome.verdict == "error":
        return Exit.UNREACHABLE
    if settings.selected is not None:
        return rerun_code
    return Exit.CONFORMANT if outcome.verdict == "conformant" else Exit.NON_CONFORMANT


RERUN_DIR = "rerun"


def rerun_result(outcome: Any, report_dir: Path, safe: Redactor) -> int:
    """A partial rerun is no verdict on the target: say how many of the failed requirements now pass.

    Exit 0 when all of them now pass, 1 when any still fails (3, 4 and 130 as for a full run); the full
    run's report is left as it was.
    """
    selected = set(outcome.settings.selected)
    results = [r for r in outcome.results if r.requirement.id in selected]
    passing = sum(1 for r in results if r.status == "passed")
    still = [r.requirement.id for r in results if r.status == "failed"]
    print(
        f"rerun: {passing} of {len(selected)} failed requirements now pass"
        + (f"; still failing: {', '.join(still)}" if still else "")
        + f" — seed {outcome.seed}, target {safe.url(outcome.url)}; not a verdict on the target (run the whole "
        f"suite for one); report: {report_dir}"
    )
    return Exit.CONFORMANT if passing == len(selected) else Exit.NON_CONFORMANT


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
    report_dir = Path(args.dir)
    if not (report_dir / "allure-results").is_dir():
        raise UsageError(
            f"{report_dir}: no allure-results/ here; run `realtime-conformance run --report-dir {report_dir}`"
        )
    check_writable(report_dir, str(report_dir))
    try:
        problem = render_html(report_dir, history=args.history)
    except OSError as exc:
        raise UsageError(f"{report_dir}: cannot write the report ({exc.strerror or exc})") from None
    if problem is not None:
        raise UsageError(problem)
    page = (report_dir / "allure-report.html").resolve()
    print(f"report: {report_dir / 'allure-report'}/index.html and {page}")
    if args.open and not webbrowser.open(page.as_uri()):
        print(f"no browser to open it with; open {page.as_uri()}", file=sys.stderr)
    return Exit.CONFORMANT


def cmd_verify(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle)
    if not bundle.exists():
        raise UsageError(f"{bundle}: no such bundle")
    try:
        checked = verify(bundle, Path(args.public_key) if args.public_key else None)
    except (KeyFileError, VersionMismatch) as exc:
        raise UsageError(str(exc)) from None
    except BundleError as exc:
        print(f"NOT VERIFIED: {one_line(str(exc))}")
        return Exit.NON_CONFORMANT
    judged = f"{checked.connections} connections re-judged offline: {checked.verdict}"
    if checked.signed:
        print(f"VERIFIED: {checked.files} files intact, signature valid; {judged}")
        return Exit.CONFORMANT
    # Without a key, anyone who changed the bundle could have re-hashed its manifest: integrity only.
    if args.allow_unsigned:
        print(f"VERIFIED (integrity only, not authenticated): {checked.files} files intact; {judged}")
        return Exit.CONFORMANT
    print(
        f"NOT AUTHENTICATED: {checked.files} files intact and {judged}, but that is integrity only: "
        "give the certifier's --public-key (or --allow-unsigned to accept an unauthenticated bundle)"
    )
    return Exit.NON_CONFORMANT


#: `replay`: the transcript file and the run options that say where and how to send (from the one table).
REPLAY_RUN_OPTIONS = (
    "dialect",
    "target",
    "timeout",
    "connect-timeout",
    "model",
    "model-name",
    "strict",
    "api-key-env",
    "iam-token-env",
    "header",
    "ca-file",
    "insecure",
    "connect-retries",
)
REPLAY_OPTIONS = (
    Option(
        "file",
        "a transcript (.jsonl: a report's transcripts/…), or a certification bundle (.tar.gz or folder)",
        positional=True,
        metavar="FILE",
    ),
    *(o for o in RUN_OPTIONS if o.name in REPLAY_RUN_OPTIONS),
)
BUNDLE_TRANSCRIPTS = "transcripts/all.jsonl"


def replay_text(path: Path) -> str:
    """The transcript text of FILE: a .jsonl file, a bundle folder, or a bundle archive (read, never extracted)."""
    import tarfile

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


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-send each recorded connection's client frames to the target, in order, and judge what comes back."""
    path = Path(args.file)
    try:
        transcripts = parse_jsonl(replay_text(path), default_timeout_s=args.timeout)
    except TranscriptError as exc:
        raise UsageError(f"{path}: {exc}") from None
    plans = [
        Plan(t.label or f"replay-{index}", tuple(f.text for f in t.frames if f.direction == "client" and f.text))
        for index, t in enumerate(transcripts, start=1)
    ]
    plans = [plan for plan in plans if plan.updates]
    if not plans:
        raise UsageError(f"{path}: no client frame to replay")
    values = {o.dest: o.argparse_kwargs(o.default)["default"] for o in RUN_OPTIONS if not o.positional}
    values.update({o.dest: getattr(args, o.dest) for o in REPLAY_OPTIONS if not o.positional})
    settings = settings_from(argparse.Namespace(**values))
    safe = redactor(settings.auth.secrets)

    async def replay() -> Any:
        async with target_url(settings) as url:
            return await run_plans(plans, target_for(settings, url))

    log = asyncio.run(replay())
    contract = load_contract(settings.model_names or None, settings.dialect)
    decision = decide(contract, judge_all(log.transcripts, contract), Policy(settings.strict))
    print_results(list(decision.results), safe)
    sent = sum(len(p.updates) for p in plans)
    where = safe.url(public_url(settings.target, settings.auth.secrets))
    if log.failure is not None:
        fail(safe.text(f"replay: the target could not be tested: {log.failure.message}"))
        return Exit.UNREACHABLE
    verdict = decision.verdict
    print(f"replay: {verdict} — {len(plans)} connection(s), {sent} client frame(s) re-sent to {where}")
    return Exit.CONFORMANT if verdict == "conformant" else Exit.NON_CONFORMANT


def cmd_keygen(args: argparse.Namespace) -> int:
    private = Path(args.private)
    public = Path(args.public) if args.public else private.with_suffix(".pub.pem")
    if private.resolve() == public.resolve():
        raise UsageError(f"--public {public}: the same file as --private; the private key would be overwritten")
    try:
        keygen(private, public)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the key pair: {exc.strerror or exc} ({exc.filename})") from None
    print(f"private key: {private} (keep it secret; sign with run --sign-key {private})")
    print(f"public key:  {public} (give it to whoever verifies: verify BUNDLE --public-key {public})")
    return Exit.CONFORMANT


def parser() -> argparse.ArgumentParser:
    root = Parser(
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
        "or not fully testable (a byte bound cut it), 4 internal error, 130 interrupted by Ctrl-C or SIGTERM "
        "(the report of what ran is still written, and replaces the previous one only once complete). "
        "Secrets are read from environment variables only, never from the command line. "
        "Every option can also be set in a TOML file: realtime-conformance.toml in the current directory, or "
        "[tool.realtime-conformance] in ./pyproject.toml, or --config FILE; keys are option names "
        '(profile = "full", timeout = 3, header = ["X-Env:env:TEAM"]); strings may use ${ENV} '
        "(expanded from the environment); the command line wins, and --no-FLAG (--html for --no-html) turns off "
        "a flag the file turned on.",
    )
    add_options(run, RUN_OPTIONS, negatable=True)
    run.set_defaults(func=cmd_run, target=None)  # None: not given, so --rerun-failed takes the recorded one

    rep = sub.add_parser(
        "report",
        help="re-render the Allure HTML report of a report dir",
        description="Render DIR/allure-report/ and DIR/allure-report.html from DIR/allure-results/ with the "
        "project's Allure Report 3 CLI (npm package allure, in node_modules).",
    )
    add_options(rep, REPORT_OPTIONS)
    rep.set_defaults(func=cmd_report)

    ver = sub.add_parser(
        "verify",
        help="check a certification bundle and re-judge it offline",
        description="Check every file's sha256 and (with --public-key) the Ed25519 signature of a certification "
        "bundle, then re-judge its transcripts offline. Exit 0 only when the files are intact and the "
        "recomputed verdict is the recorded one; 1 names what differs, or why the bundle cannot be read "
        "(NOT VERIFIED); 2 for a usage error.",
    )
    add_options(ver, VERIFY_OPTIONS)
    ver.set_defaults(func=cmd_verify)

    key = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    add_options(key, KEYGEN_OPTIONS)
    key.set_defaults(func=cmd_keygen)

    req = sub.add_parser("requirements", help="print the requirement catalogue")
    add_options(req, REQUIREMENTS_OPTIONS)
    req.set_defaults(func=cmd_requirements)

    add_diff_command(sub)

    replay = sub.add_parser(
        "replay",
        help="re-send a transcript's client frames to a target and judge the answers",
        description="Reproduce a failure in one command: each recorded connection of FILE (a report's "
        "transcripts/*.jsonl, or a certification bundle) is opened again on --target and its client frames are "
        "sent in order; the answers are judged as `run` judges them. Exit codes as for run: 0 conformant, "
        "1 non-conformant, 2 usage error, 3 target unreachable.",
    )
    add_options(replay, REPLAY_OPTIONS)
    replay.set_defaults(func=cmd_replay)

    val = sub.add_parser(
        "validate",
        help="judge a recorded transcript offline",
        description="Judge a recorded transcript (JSONL: one frame a line with direction, time and text; "
        "a header line {'transcript': 1, 'timeout_s': …, 'models': […]} starts each connection).",
    )
    add_options(val, VALIDATE_OPTIONS)
    val.set_defaults(func=cmd_validate)

    mock = sub.add_parser(
        "mock",
        help="serve the reference mock (optionally misbehaving)",
        description="Serve the reference mock on 127.0.0.1 until Ctrl-C: it speaks the protocol as documented; "
        "each --fault makes it misbehave in exactly one way.",
    )
    add_options(mock, MOCK_OPTIONS)
    mock.set_defaults(func=cmd_mock)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a path or value that is not UTF-8 is still printable
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        root = parser()
        try:
            if argv[:1] == ["run"]:
                commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
                apply_config(commands.choices["run"], argv[1:])
            args = root.parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else Exit.USAGE
        return int(args.func(args))
    except (UsageError, ConfigError) as exc:
        fail(str(exc))
        return Exit.USAGE
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except BrokenPipeError:  # `realtime-conformance requirements | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.CONFORMANT
    except Exception:  # a bug of ours, never something a user or a target can cause: exit 4, not 1
        traceback.print_exc()
        fail(
            f"internal error: this is a bug of realtime-conformance {__version__}; please report it "
            "with the traceback above and the command line"
        )
        return Exit.INTERNAL


DRAW_AHEAD = False  # set by console_main: only a whole CLI process may fork a drawing child


def console_main() -> None:
    """The console script: a whole process for one command, so the start-up heap can be frozen
    and the corpus drawn ahead in a forked child."""
    global DRAW_AHEAD
    DRAW_AHEAD = True
    gc.collect()
    gc.freeze()  # the imported modules are never garbage: spare every collection from scanning them
    sys.exit(main())


if __name__ == "__main__":
    console_main()

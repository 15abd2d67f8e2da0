"""The commands that connect to no target: `requirements`, `validate` (judge a transcript), `report` (render)."""

from __future__ import annotations

import argparse
import json
import sys
import webbrowser
from pathlib import Path
from typing import Any

from conformance.cli.exits import Exit, UsageError
from conformance.cli.paths import check_writable
from conformance.cli.table import print_results
from conformance.contract import DEFAULT_DIALECT, DIALECTS, load_contract, spec_hash
from conformance.readers import SUMMARY_BYTES, ReadError, parse_json, read_text
from conformance.reports.html import render_html
from conformance.run.recorder import judge_file
from conformance.transcript import TranscriptError
from conformance.verdict import Policy, PolicyError, decide, not_run_of, nothing_judged, shortfall


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
    print(
        f"\n{len(contract.requirements)} requirements of the {contract.dialect} dialect, "
        f"catalogue {contract.version}, spec {spec_hash()[:12]}"
    )
    print("sources (each requirement's quote: --format json):")
    for r in contract.requirements:
        print(f"{r.id:<{width}}  {r.source.citation}")
    return Exit.CONFORMANT


def sources_by_dialect(requirement_id: str) -> dict[str, Any]:
    """Where each dialect that has the requirement takes it from (`requirements --format json`)."""
    contracts = [load_contract(None, d) for d in DIALECTS]
    return {c.dialect: c.requirement(requirement_id).source.to_json() for c in contracts if requirement_id in c.ids}


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    policy, not_run, recorded = (
        recorded_policy(Path(args.policy), args.strict) if args.policy else (Policy(args.strict), None, None)
    )
    # the recorded run's dialect judges it (its requirement IDs and schemas), unless --dialect says otherwise
    contract = load_contract(tuple(args.model_name) or None, args.dialect or recorded or DEFAULT_DIALECT)
    unknown = policy.unknown_to(contract)
    if unknown is not None:
        raise UsageError(f"--policy {args.policy}: its verdict policy is malformed {unknown}")
    try:  # connection by connection as the file is read: a transcript file may be any size
        tally = judge_file(path, contract, default_timeout_s=args.timeout)
    except TranscriptError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL byte
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    judgement = tally.judgement()
    untested = None if not_run else nothing_judged(judgement)  # as a run has it (a recorded run's reason first)
    decision = decide(contract, judgement, policy, not_run or untested, tally.omitted())
    print_results(decision.results, expected=frozenset(decision.baseline.expected if decision.baseline else ()))
    print(f"verdict: {decision.verdict} ({tally.connections} connection(s) judged offline)")
    if decision.verdict == "error":  # the recorded run was incomplete, or too thin to certify: never conformant
        thin = shortfall(decision.results, policy.min_exercised)
        if thin is not None:  # as the run said it (a failure of the target's own stands, however thin the rest)
            print(thin)
        elif untested is not None:
            print(f"not testable: {untested}")
        return Exit.UNREACHABLE
    return Exit.CONFORMANT if decision.verdict == "conformant" else Exit.NON_CONFORMANT


def recorded_policy(path: Path, strict: bool) -> tuple[Policy, str | None, str | None]:
    """The verdict policy, the incompleteness and the dialect a run recorded in its summary.json (--policy)."""
    if strict:
        raise UsageError("--strict and --policy: the recorded policy says whether the run was strict; give one")
    try:
        summary = parse_json(read_text(path, SUMMARY_BYTES), str(path))
        if not isinstance(summary, dict):
            raise PolicyError("at the top level: not a summary.json object")
        spec = summary.get("spec")
        dialect = spec.get("dialect") if isinstance(spec, dict) else None
        if dialect is not None and dialect not in DIALECTS:
            raise UsageError(f"--policy {path}: it records an unknown dialect {str(dialect)[:40]!r}")
        return Policy.from_json(summary.get("policy")), not_run_of(summary), dialect
    except ReadError as exc:
        raise UsageError(str(exc)) from None
    except PolicyError as exc:
        raise UsageError(f"--policy {path}: its verdict policy is malformed {exc}") from None


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

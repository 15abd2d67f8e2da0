"""The `realtime-conformance` command line: stable options and exit codes for CI (DESIGN)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from conformance import __version__
from conformance.checks import judge_all
from conformance.contract import load_contract, spec_hash
from conformance.results import RequirementResult, evaluate, verdict_of
from conformance.transcript import TranscriptError, parse_jsonl


class Exit(IntEnum):
    CONFORMANT = 0
    NON_CONFORMANT = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERNAL = 4


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


def print_results(results: list[RequirementResult]) -> None:
    for result in results:
        if result.status == "failed":
            r = result.requirement
            print(f"FAILED  {r.id} ({r.level}) {r.title}")
            for v in result.violations[:5]:
                print(f"        - {v.message}")
            if len(result.violations) > 5:
                print(f"        - … and {len(result.violations) - 5} more")
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
    args = parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())

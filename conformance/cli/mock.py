"""`realtime-conformance mock`: serve the reference mock, as documented or with chosen faults, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import sys

from conformance.cli.exits import Exit, UsageError
from conformance.cli.settings_check import env_secret
from conformance.mock import MockConfig, faults_of, lookup, serve_mock


def cmd_mock(args: argparse.Namespace) -> int:
    if args.list_faults:
        list_faults(args.dialect)
        return Exit.CONFORMANT
    try:
        faults = lookup(args.fault, args.dialect)
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
    auth = f"api-key from ${args.require_api_key_env}" if api_key else "none"
    try:
        asyncio.run(serve_forever(config, auth))
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return Exit.CONFORMANT


def list_faults(dialect: str) -> None:
    faults = faults_of(dialect)
    width = max(len(f.name) for f in faults)
    for fault in faults:
        trips = ", ".join(fault.trips) or f"(no requirement: the run ends with {fault.outcome})"
        if fault.may_trip:
            trips += f" (and may trip {', '.join(fault.may_trip)})"
        print(f"{fault.name:<{width}}  {fault.description}\n{'':<{width}}  trips: {trips}")


async def serve_forever(config: MockConfig, auth: str) -> None:
    async with serve_mock(config) as url:
        print(f"reference mock listening on {url}", flush=True)
        print(f"dialect: {config.dialect}; models: {', '.join(config.accepted_models)}", flush=True)
        print(f"faults: {', '.join(f.name for f in config.faults) or 'none'}; auth: {auth}; Ctrl-C stops", flush=True)
        await asyncio.Event().wait()

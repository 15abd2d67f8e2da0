"""The `realtime-conformance` command line: stable options and exit codes for CI (DESIGN).

Each command is a row of `COMMANDS`; its options come from the one option table (`cli/options.py`),
its work from its own module (`cli/run.py`, `cli/verify.py`, `cli/offline.py`,
`cli/replay.py`, `cli/mock.py`, `cli/dialect_diff.py`).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from conformance import __version__, collector, signals
from conformance.cli.config import ConfigError, apply_config
from conformance.cli.dialect_diff import cmd_diff
from conformance.cli.exits import INTERRUPTED, Exit, UsageError, fail
from conformance.cli.mock import cmd_mock
from conformance.cli.offline import cmd_report, cmd_requirements, cmd_validate
from conformance.cli.option import Option, add_options
from conformance.cli.options import (
    DIFF_OPTIONS,
    KEYGEN_OPTIONS,
    MOCK_OPTIONS,
    REPLAY_OPTIONS,
    REPLAY_REPORT_DIR,
    REPORT_OPTIONS,
    REQUIREMENTS_OPTIONS,
    RUN_OPTIONS,
    VALIDATE_OPTIONS,
    VERIFY_OPTIONS,
)
from conformance.cli.replay import cmd_replay
from conformance.cli.run import cmd_run
from conformance.cli.verify import cmd_keygen, cmd_verify


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (the usage text is what --help is for), exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, texts for --help, options (from the table) and what runs it."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    options: tuple[Option, ...]
    description: str | None = None
    epilog: str | None = None
    negatable: bool = False  # its flags get --no-FLAG too, so the command line can undo a settings file
    defaults: tuple[tuple[str, object], ...] = ()


RUN_EPILOG = (
    "Exit codes: 0 conformant, 1 non-conformant, 2 usage error, 3 target unreachable, handshake failed "
    "or not fully testable (a byte bound cut it), 4 internal error, 130 interrupted by Ctrl-C or SIGTERM "
    "(the report of what ran is still written, and replaces the previous one only once complete). "
    "Secrets are read from environment variables only, never from the command line. "
    "Every option can also be set in a TOML file: realtime-conformance.toml in the current directory, or "
    "[tool.realtime-conformance] in ./pyproject.toml, or --config FILE; keys are option names "
    '(profile = "full", timeout = 3, header = ["X-Env:env:TEAM"]); strings may use ${ENV} '
    "(expanded from the environment); the command line wins, and --no-FLAG (--html for --no-html) turns off "
    "a flag the file turned on."
)

COMMANDS: tuple[Command, ...] = (
    Command(
        "run",
        "run the conformance suite against a target (default: the embedded mock)",
        cmd_run,
        RUN_OPTIONS,
        "Run the suite: exchanges over a real WebSocket, a verdict per requirement, reports in "
        "--report-dir (summary.json, junit.xml, allure-results/, allure-report/, allure-report.html, transcripts/).",
        RUN_EPILOG,
        negatable=True,
        defaults=(("target", None),),  # None: not given, so --rerun-failed takes the recorded target
    ),
    Command(
        "report",
        "re-render the Allure HTML report of a report dir",
        cmd_report,
        REPORT_OPTIONS,
        "Render DIR/allure-report/ and DIR/allure-report.html from DIR/allure-results/ with the "
        "project's Allure Report 3 CLI (npm package allure, in node_modules).",
    ),
    Command(
        "verify",
        "check a certification bundle and re-judge it offline",
        cmd_verify,
        VERIFY_OPTIONS,
        "Check every file's sha256 and (with --public-key) the Ed25519 signature of a certification "
        "bundle, then re-judge its transcripts offline. Exit 0 only when the files are intact and the "
        "recomputed verdict is the recorded one; 1 names what differs, or why the bundle cannot be read "
        "(NOT VERIFIED); 2 for a usage error.",
    ),
    Command("keygen", "make an Ed25519 key pair for signing bundles", cmd_keygen, KEYGEN_OPTIONS),
    Command("requirements", "print the requirement catalogue", cmd_requirements, REQUIREMENTS_OPTIONS),
    Command(
        "diff",
        "list what differs between two dialects' contracts",
        cmd_diff,
        DIFF_OPTIONS,
        "Compare two dialects field by field (added, removed, type, enum, rules, required), by "
        "known-valid values, requirement by requirement and by dialect rule. Exit 0 when no difference can "
        "change a verdict, 1 when breaking differences are found, 2 for a usage error.",
    ),
    Command(
        "replay",
        "re-send a transcript's client frames to a target and judge the answers",
        cmd_replay,
        REPLAY_OPTIONS,
        "Reproduce a failure in one command: each recorded connection of FILE (a report's "
        "transcripts/*.jsonl, or a certification bundle) is opened again on --target and its client frames are "
        "sent in order; the answers are judged as `run` judges them and reported as `run` reports them (summary.json, "
        f"junit.xml, allure-results/, transcripts/) into --report-dir, by default {REPLAY_REPORT_DIR}/ so the run's "
        "own report is never overwritten; a bundle's dialect and model names are the defaults. Exit codes as for "
        "run: 0 conformant, 1 non-conformant, 2 usage error, 3 target unreachable or not fully testable, 4 internal "
        "error (with its traceback), 130 interrupted.",
    ),
    Command(
        "validate",
        "judge a recorded transcript offline",
        cmd_validate,
        VALIDATE_OPTIONS,
        "Judge a recorded transcript (JSONL: one frame a line with direction, time and text; "
        "a header line {'transcript': 1, 'timeout_s': …, 'models': […]} starts each connection).",
    ),
    Command(
        "mock",
        "serve the reference mock (optionally misbehaving)",
        cmd_mock,
        MOCK_OPTIONS,
        "Serve the reference mock on 127.0.0.1 until Ctrl-C: it speaks the protocol as documented; "
        "each --fault makes it misbehave in exactly one way.",
    ),
)


def parser(whole_process: bool = False) -> argparse.ArgumentParser:
    """The parser of every command; `whole_process`: this process runs one command and exits."""
    root = Parser(
        prog="realtime-conformance",
        description="Conformance suite for the Realtime API session configuration exchange "
        "(session.update -> session.updated | error).",
        epilog="Exit codes: 0 conformant, 1 non-conformant, 2 usage or configuration error, "
        "3 target unreachable or handshake failed, 4 internal error (please report it).",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    root.set_defaults(whole_process=whole_process)
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        one = sub.add_parser(command.name, help=command.help, description=command.description, epilog=command.epilog)
        add_options(one, command.options, negatable=command.negatable)
        one.set_defaults(func=command.run, **dict(command.defaults))
    return root


def main(argv: Sequence[str] | None = None, *, whole_process: bool = False) -> int:
    """Run one command; its exit code. `whole_process` (the console script): it may fork and take signals."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if whole_process and argv[:1] != ["run"]:  # `run` takes both signals over itself (signals.install)
        signals.as_ctrl_c()
    for stream in (sys.stdout, sys.stderr):  # a path or value that is not UTF-8 is still printable
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        root = parser(whole_process)
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
        return INTERRUPTED
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


def console_main() -> None:
    """The console script: a whole process for one command, so the start-up heap can be frozen
    and the corpus drawn ahead in a forked child."""
    collector.freeze()
    sys.exit(main(whole_process=True))


if __name__ == "__main__":
    console_main()

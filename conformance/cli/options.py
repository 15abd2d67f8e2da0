"""Every setting of the command line, the settings file and the pytest plugin, declared once.

Each `Option` says its type, default, choices and range; the argparse options, the keys a settings
file accepts and the pytest options are all derived from these tables, and every value, wherever it
comes from, passes the same checks (finite numbers, bounded counts, real booleans, printable text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from conformance.cli.option import (
    Option,
    count,
    host_problem,
    model_name_problem,
    path,
    path_problem,
    seconds,
    word_problem,
)
from conformance.cli.run_options import (
    DIALECT,
    MAX_CONCURRENCY,
    MAX_CONNECTIONS,
    MAX_FRAME_BYTES,
    MAX_RUN_BYTES,
    MAX_WORKERS,
    RECORDED_DIALECT,
    RUN_OPTIONS,
)
from conformance.contract import DIALECTS

__all__ = [
    "DIALECT",
    "DIFF_OPTIONS",
    "KEYGEN_OPTIONS",
    "MAX_CONCURRENCY",
    "MAX_CONNECTIONS",
    "MAX_FRAME_BYTES",
    "MAX_RUN_BYTES",
    "MAX_WORKERS",
    "MOCK_OPTIONS",
    "RECORDED_DIALECT",
    "REPLAY_OPTIONS",
    "REPLAY_REPORT_DIR",
    "REPORT_OPTIONS",
    "REQUIREMENTS_OPTIONS",
    "RUN_OPTIONS",
    "VALIDATE_OPTIONS",
    "VERIFY_OPTIONS",
    "add_pytest_options",
]

VALIDATE_OPTIONS: tuple[Option, ...] = (
    path("file", "the transcript file (.jsonl)", positional=True),
    RECORDED_DIALECT,
    seconds("timeout", 5.0, "seconds, for frames without a header (default: 5)"),
    Option(
        "model-name",
        "a supported model name (repeatable; default: the documented one)",
        "list",
        problem=model_name_problem,
        metavar="NAME",
    ),
    Option("strict", "SHOULD failures also make it non-conformant", "flag", False),
    path("policy", "judge under the verdict policy a run recorded in this summary.json (instead of --strict)"),
)

MOCK_OPTIONS: tuple[Option, ...] = (
    DIALECT,
    count("port", 0, "port to listen on (default: a free one)", 0, 65535),
    Option("host", "address to listen on (default: 127.0.0.1)", default="127.0.0.1", problem=host_problem),
    Option("fault", "misbehave this way (repeatable)", "list", metavar="NAME"),
    Option("list-faults", "list the faults and the requirements they trip", "flag", False),
    Option(
        "model",
        "a model the mock accepts (repeatable; default: a demo folder's speech-realtime-250923)",
        "list",
        problem=word_problem,
        metavar="URI",
    ),
    Option(
        "require-api-key-env",
        "accept only 'Authorization: api-key <$NAME>' or 'Bearer <$NAME>' (else HTTP 401)",
        metavar="NAME",
    ),
    seconds("late-s", 6.0, "delay of the answers-late fault (default: 6)", zero=True),
)


REPORT_OPTIONS: tuple[Option, ...] = (
    path("dir", "a report dir written by `run`", positional=True),
    Option("open", "open the single-file report in a browser", "flag", False),
    Option("history", "append this rendering to DIR/history.jsonl (trends)", "flag", False),
)

VERIFY_OPTIONS: tuple[Option, ...] = (
    path("bundle", "certificate.tar.gz or its unpacked certificate/ folder", positional=True),
    Option("public-key", "the certifier's Ed25519 public key (PEM)", problem=path_problem, metavar="FILE"),
    Option(
        "allow-unsigned",
        "without --public-key, accept a bundle checked for integrity only (anyone can re-hash a changed "
        "bundle, so this proves nothing of who made it): exit 0 instead of 1",
        "flag",
        False,
    ),
)

KEYGEN_OPTIONS: tuple[Option, ...] = (
    Option(
        "private",
        "private key file to write",
        default="realtime-conformance-key.pem",
        problem=path_problem,
        metavar="FILE",
    ),
    Option("public", "public key file to write (default: PRIVATE with .pub.pem)", problem=path_problem, metavar="FILE"),
)

DIFF_OPTIONS: tuple[Option, ...] = (
    Option("a", "the first dialect", "choice", choices=DIALECTS, positional=True, metavar="A"),
    Option("b", "the dialect to compare it with", "choice", choices=DIALECTS, positional=True, metavar="B"),
    Option("format", "output format (default: table)", "choice", "table", choices=("table", "json")),
)

REQUIREMENTS_OPTIONS: tuple[Option, ...] = (
    DIALECT,
    Option("format", "output format (default: table)", "choice", "table", choices=("table", "json")),
)

REPLAY_REPORT_DIR = "reports/replay"
#: `replay`: the transcript file and the run options that say where and how to send.
REPLAY_RUN_OPTIONS = (
    "target",
    "dialect",
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
REPLAY_OPTIONS: tuple[Option, ...] = (
    Option(
        "file",
        "a transcript (.jsonl: a report's transcripts/…), or a certification bundle (.tar.gz or folder)",
        positional=True,
        metavar="FILE",
    ),
    *(o for o in RUN_OPTIONS if o.name in REPLAY_RUN_OPTIONS),
    *(  # its own report dir, so a replay never overwrites the run's report
        replace(o, default=REPLAY_REPORT_DIR, help=f"where the replay's reports go (default: {REPLAY_REPORT_DIR}/)")
        for o in RUN_OPTIONS
        if o.name == "report-dir"
    ),
)


def add_pytest_options(add: Callable[..., None], names: Mapping[str, str], defaults: Mapping[str, Any]) -> None:
    """The pytest plugin's options: `names` maps a table name to its pytest flag (kept as they are today)."""
    by_name = {option.name: option for option in RUN_OPTIONS}
    for name, flag in names.items():
        option = by_name[name]
        kwargs = option.argparse_kwargs(defaults.get(name, option.default))
        del kwargs["dest"]  # pytest derives it from the flag, as before (another plugin may own `timeout`)
        add(flag, **kwargs)

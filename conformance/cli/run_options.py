"""The rows of `run`'s options (the command line, the settings file and the pytest plugin share them).

Data only: what an option is, and how its value is checked, is conformance.cli.option; the other
commands' tables and the pytest glue are conformance.cli.options.
"""

from __future__ import annotations

from dataclasses import replace

from conformance.cli.option import (
    MAX_SECONDS,
    Option,
    count,
    header_problem,
    model_name_problem,
    path_problem,
    seconds,
    target_problem,
    word_problem,
    xdist_problem,
)
from conformance.contract import DEFAULT_DIALECT, DIALECTS
from conformance.run.settings import (
    LIVE_CONCURRENCY,
    LIVE_LISTENING,
    LIVE_RATE,
    LIVE_TIMEOUT_S,
    MOCK_CONCURRENCY,
    MOCK_TIMEOUT_S,
    PROFILES,
    Settings,
)

#: Largest values of the counts and durations: far above any sensible run, low enough that a typo
#: (an extra zero, `inf`) is refused instead of running for days or exhausting memory.
MAX_CONNECTIONS = 10_000
MAX_CONCURRENCY = 256
MAX_WORKERS = 64
MAX_FRAME_BYTES = 64 << 20
MAX_RUN_BYTES = 16 << 30  # what a run holds in memory until it is judged

#: The one --dialect option (run, mock, validate, requirements; the pytest plugin's --rc-dialect).
DIALECT = Option(
    "dialect",
    "the contract to judge by: yandex (the seed, default) or openai (OpenAI GA, from the openai SDK's types)",
    "choice",
    DEFAULT_DIALECT,
    choices=DIALECTS,
)
#: --dialect where a recorded run may say it (run --rerun-failed, validate --policy, replay of a bundle):
#: None, unless given, so the recorded dialect wins over the default and only an explicit one over it.
RECORDED_DIALECT = replace(
    DIALECT,
    default=None,
    help="the contract to judge by: yandex (the seed) or openai (OpenAI GA, from the openai SDK's types); "
    "default: the recorded run's (--rerun-failed, validate --policy, replay of a bundle), else yandex",
)

RUN_OPTIONS: tuple[Option, ...] = (
    RECORDED_DIALECT,
    Option(
        "target",
        "mock (the embedded reference mock, default) or a ws:// or wss:// URL, used as given (path and query included)",
        default="mock",
        problem=target_problem,
        echo=False,
    ),
    Option(
        "profile",
        "smoke: the scripted exchanges (seconds); full: plus generated ones; certify: full, and every MUST "
        "exercised at least --min-exercised times (default: smoke)",
        "choice",
        "smoke",
        choices=PROFILES,
    ),
    count("seed", None, "seed of the generated exchanges (default: random, printed)", 0, 2**63 - 1),
    Option(
        "report-dir",
        "where the reports go (default: reports/)",
        default="reports",
        problem=path_problem,
        metavar="DIR",
    ),
    Option(
        "model",
        "a model the target accepts (repeatable); also taken from session.created and the URL's model query",
        "list",
        problem=word_problem,
        metavar="URI",
    ),
    Option(
        "model-name",
        "a supported model name (repeatable; default: speech-realtime-250923)",
        "list",
        problem=model_name_problem,
        metavar="NAME",
    ),
    seconds(
        "timeout",
        None,
        f"seconds to wait for each answer, and to listen out after each connection's last update (default: "
        f"{LIVE_TIMEOUT_S:g} against a live target, {MOCK_TIMEOUT_S:g} against the embedded mock, which answers "
        "within milliseconds)",
    ),
    seconds("connect-timeout", 10.0, "seconds for connect and handshake (default: 10)"),
    Option("strict", "SHOULD failures also make the verdict non-conformant", "flag", False),
    Option(
        "api-key-env",
        "environment variable with an API key, sent as 'Authorization: api-key …' (default: REALTIME_API_KEY)",
        default="REALTIME_API_KEY",
        metavar="NAME",
    ),
    Option("iam-token-env", "environment variable with an IAM token, sent as 'Bearer …'", metavar="NAME"),
    Option(
        "header",
        "extra handshake header (repeatable); VALUE may be env:NAME to read it from the environment",
        "list",
        problem=header_problem,
        metavar="NAME:VALUE",
        echo=False,
    ),
    count(
        "connections",
        40,
        "generated connections in full/certify (default: 40)",
        1,
        MAX_CONNECTIONS,
    ),
    count(
        "concurrency",
        None,
        f"connections exchanging at once (default: {MOCK_CONCURRENCY} against the embedded mock, {LIVE_CONCURRENCY} "
        f"against a live target; at most {LIVE_LISTENING} more stay open there only to wait: listening out their "
        "last answer timeout, or waiting one out before their last update)",
        1,
        MAX_CONCURRENCY,
        aliases=("max-connections",),
    ),
    Option(
        "rate",
        f"at most this many updates per second, over all connections (default: {LIVE_RATE:g} against a remote "
        "target; none against the embedded mock or a loopback address)",
        "float",
        low=0.0,
        low_open=True,
        high=10_000.0,
        metavar="R",
    ),
    count("max-exchanges", None, "send at most this many updates in the whole run", 1, 10_000_000),
    Option(
        "budget-s",
        "end the run's exchanges within this many seconds (an update is sent only while its answer can still be "
        "heard out; shrinking stops at it too, judging a second later); what was not reached or not judged is "
        "reported and the run is never called conformant (exit 3, or 1 if a requirement already failed)",
        "float",
        low=0.0,
        low_open=True,
        high=7 * 24 * MAX_SECONDS,
        metavar="SECONDS",
    ),
    count(
        "connect-retries",
        2,
        "retries of a refused or timed-out connect, with backoff 0.5s, 1s, 2s… (default: 2)",
        0,
        10,
    ),
    count(
        "max-frame-bytes",
        1 << 20,
        "largest frame accepted, in bytes (default: 1 MiB)",
        1024,
        MAX_FRAME_BYTES,
    ),
    count(
        "max-connection-bytes",
        Settings.max_connection_bytes,
        "bytes one connection may receive before it is cut (default: 16 MiB; a conforming one needs a few KiB)",
        1024,
        MAX_RUN_BYTES,
    ),
    count(
        "max-run-bytes",
        Settings.max_run_bytes,
        "bytes the whole run may receive; past it, connections are cut and no more are opened "
        "(default: 64 MiB; held in memory until judged). A cut run is never conformant (exit 3)",
        1024,
        MAX_RUN_BYTES,
    ),
    Option("ca-file", "wss://: trust the CA certificates in this PEM file too", problem=path_problem, metavar="FILE"),
    Option("insecure", "wss://: do not verify the server certificate", "flag", False),
    Option(
        "config",
        "settings file (default: ./realtime-conformance.toml, else [tool.realtime-conformance] in ./pyproject.toml)",
        problem=path_problem,
        metavar="FILE",
        in_config=False,
    ),
    count("min-exercised", 3, "certify: times each MUST must be exercised (default: 3)", 1, 1000),
    seconds(
        "shrink-budget-s",
        10.0,
        "seconds to spend shrinking failing generated exchanges (default: 10; 0 disables)",
        zero=True,
    ),
    Option("no-html", "skip rendering the Allure HTML report", "flag", False),
    Option(
        "history",
        "keep history across runs in the same report dir (report-dir/history.jsonl), for trends",
        "flag",
        False,
    ),
    Option("quiet", "print only the verdict line (for CI logs)", "flag", False),
    Option(
        "sign-key",
        "certify: sign the bundle with this Ed25519 private key (PEM)",
        problem=path_problem,
        metavar="FILE",
    ),
    Option(
        "expected-failures",
        "known-failure baseline (YAML or JSON: id, reason, optional expires YYYY-MM-DD, link): only failures not "
        "listed fail the run",
        problem=path_problem,
        metavar="FILE",
    ),
    Option(
        "strict-baseline", "also fail when a listed failure now passes (fixed) or an entry has expired", "flag", False
    ),
    Option(
        "rerun-failed",
        "rerun only the requirements that failed in --report-dir's last full run, with its seed, profile and "
        "target (another target only if --target is given), into --report-dir/rerun/; exit 0 when all of them "
        "now pass, 1 when any still fails (a partial rerun is no verdict on the target)",
        "flag",
        False,
    ),
    Option("junit-prefix", "prefix for the JUnit class names", default="", metavar="PREFIX"),
    count(
        "workers",
        1,
        "spread the connections over N processes with pytest-xdist, merged into one report (default: 1)",
        1,
        MAX_WORKERS,
    ),
    Option(
        "xdist-option",
        "pass an option to pytest-xdist, e.g. --xdist-option=--tx=ssh=host//python=python3 for remote workers "
        "(repeatable)",
        "list",
        problem=xdist_problem,
        metavar="OPTION",
    ),
)

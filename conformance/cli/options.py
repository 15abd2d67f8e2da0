"""Every setting of the command line, the settings file and the pytest plugin, declared once.

Each `Option` says its type, default, choices and range; the argparse options, the keys a settings
file accepts and the pytest options are all derived from these tables, and every value, wherever it
comes from, passes the same checks (finite numbers, bounded counts, real booleans, printable text).
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from conformance.contract import DEFAULT_DIALECT, DIALECTS
from conformance.run.engine import PROFILES, Settings

Kind = Literal["str", "int", "float", "flag", "list", "choice"]

#: Largest values of the counts and durations: far above any sensible run, low enough that a typo
#: (an extra zero, `inf`) is refused instead of running for days or exhausting memory.
MAX_SECONDS = 3600.0
MAX_CONNECTIONS = 10_000
MAX_CONCURRENCY = 256
MAX_WORKERS = 64
MAX_FRAME_BYTES = 64 << 20
MAX_RUN_BYTES = 16 << 30  # what a run holds in memory until it is judged

#: Defaults for a live target, polite and fast at once: the rate bounds the load a shared target
#: sees whatever its speed (a loopback target is the user's own machine: it has none); the
#: connections let a slow or silent target's waits overlap, so the full profile reaches its verdict
#: in about a minute even when every answer takes 1.5 s or never comes.
LIVE_CONCURRENCY = 16
LIVE_RATE = 20.0
MOCK_CONCURRENCY = 16
#: Connections listening out their last answer timeout, held open at once besides the busy ones.
LIVE_LISTENING = 4 * LIVE_CONCURRENCY


def default_rate(target: str) -> float | None:
    """The polite rate for a target: none for the mock or a loopback host, else LIVE_RATE."""
    if target == "mock":
        return None
    host = (urlsplit(target).hostname or "").strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    return None if loopback else LIVE_RATE


class OptionError(ValueError):
    """A value an option cannot take; the message never repeats the value (it may hold a secret)."""


MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")


def _model_name_problem(text: str) -> str | None:
    return None if MODEL_NAME.fullmatch(text) else "a model name is letters, digits and . _ : + - (no spaces)"


def _word_problem(text: str) -> str | None:
    """A model URI and the like: one word of printable ASCII (an empty or spaced one never matches a model)."""
    if not text or not text.isascii() or not text.isprintable() or " " in text:
        return "must be non-empty printable ASCII without spaces"
    return None


def _xdist_problem(text: str) -> str | None:
    """An option, never a bare word: pytest would take that for a folder of tests to collect and run."""
    return None if text.startswith("-") else "must be an option (starting with -), not a path"


def _path_problem(text: str) -> str | None:
    return None if text.strip() else "must name a file or folder"


def _host_problem(host: str) -> str | None:
    """A host name the resolver can be asked about (an IP literal, or labels of 1 to 63 characters)."""
    try:
        host.strip("[]").encode("idna")
    except UnicodeError:
        return "not a valid host name (empty or over-long label)"
    return None


def _target_problem(text: str) -> str | None:
    if text == "mock":
        return None
    if not text.startswith(("ws://", "wss://")):
        return "expected mock, ws://… or wss://…"
    if not text.isascii() or not text.isprintable() or " " in text:
        return "a URL must be printable ASCII without spaces (percent-encode other characters)"
    try:
        parse_uri(text)
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a port out of range)
    except InvalidURI as exc:
        return f"not a usable WebSocket URL: {exc.msg}"
    except ValueError as exc:  # urllib's messages; one that quotes a part of the URL is not repeated
        reason = str(exc)
        return "not a usable WebSocket URL: " + (reason if "'" not in reason else "malformed port")
    return _host_problem(parts.hostname or "")


HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)


def _header_problem(text: str) -> str | None:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        return "expected NAME:VALUE"
    if not HEADER_NAME.fullmatch(name.strip()):
        return "the header name must be an HTTP token (letters, digits, -)"
    if not value.isascii() or not value.isprintable():
        return "the header value must be printable ASCII"
    return None


@dataclass(frozen=True)
class Option:
    """One setting: its `--name` (also its key in a settings file), type, default, bounds and help."""

    name: str
    help: str
    kind: Kind = "str"
    default: Any = None
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is refused (durations must be > 0)
    problem: Callable[[str], str | None] | None = None  # a further check of a text value
    metavar: str | None = None
    echo: bool = True  # errors may repeat the value given (False: it may carry a credential)
    in_config: bool = True
    positional: bool = False  # an argument (`verify BUNDLE`), not an --option

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f"--{n}" for n in (self.name, *self.aliases))

    @property
    def negation(self) -> str:
        """The flag that turns a flag off again (after a settings file turned it on): --no-strict, --html."""
        return f"--{self.name.removeprefix('no-')}" if self.name.startswith("no-") else f"--no-{self.name}"

    @property
    def bounds(self) -> str:
        """The allowed range, for --help (from the same numbers the checks use)."""
        if self.low is None or self.high is None:
            return ""
        low = f"more than {_num(self.low)}" if self.low_open else f"{_num(self.low)}"
        return f" [{low} to {_num(self.high)}]"

    def convert(self, text: str) -> Any:
        """A text (command line, or a string in a settings file) to a checked value."""
        if "\x00" in text:
            raise OptionError("contains a NUL character")
        if self.kind == "int":
            try:
                value: Any = int(text)
            except ValueError:
                raise OptionError("not an integer") from None
        elif self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise OptionError("not a number") from None
        elif self.kind == "flag":
            raise OptionError("a flag takes no value")
        else:
            value = text
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Bounds, finiteness, choices and the option's own check, for a value of the right type."""
        if self.kind in ("int", "float"):
            if not math.isfinite(value):
                raise OptionError("must be a finite number")
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                raise OptionError(f"must be {'more than' if self.low_open else 'at least'} {_num(self.low)}")
            if self.high is not None and value > self.high:
                raise OptionError(f"must be at most {_num(self.high)}")
        if isinstance(value, str):
            if "\x00" in value:
                raise OptionError("contains a NUL character")
            if self.choices and value not in self.choices:
                raise OptionError(f"must be one of {', '.join(self.choices)}")
            reason = self.problem(value) if self.problem else None
            if reason:
                raise OptionError(reason)
        return value

    def from_config(self, raw: Any, expand: Callable[[str], str]) -> Any:
        """A value from a settings file: its TOML type must fit; strings are ${ENV}-expanded first."""
        if self.kind == "flag":
            if not isinstance(raw, bool):
                raise OptionError("must be true or false (a TOML boolean, unquoted)")
            return raw
        if self.kind == "list":
            items = raw if isinstance(raw, list) else [raw]
            if not all(isinstance(item, str) for item in items):
                raise OptionError("must be a string or a list of strings")
            return [self.convert(expand(item)) for item in items]
        if isinstance(raw, str):
            return self.convert(expand(raw))
        if self.kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
            return self.check(raw)
        if self.kind == "float" and isinstance(raw, int | float) and not isinstance(raw, bool):
            return self.check(float(raw))
        expected = {"int": "an integer", "float": "a number"}.get(self.kind, "a string")
        raise OptionError(f"must be {expected}")

    def argparse_type(self, text: str) -> Any:
        try:
            return self.convert(text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}" if self.echo else str(exc)) from None

    def argparse_kwargs(self, default: Any) -> dict[str, Any]:
        """What `add_argument` (argparse or pytest) needs for this option."""
        kwargs: dict[str, Any] = {"dest": self.dest, "default": default, "help": self.help + self.bounds}
        if self.kind == "flag":
            kwargs["action"] = "store_true"
            return kwargs
        kwargs["type"] = self.argparse_type
        if self.kind == "list":
            kwargs["action"] = "append"
            kwargs["default"] = list(default or [])
        if self.choices:
            kwargs["metavar"] = self.metavar or "{" + ",".join(self.choices) + "}"
        elif self.metavar:
            kwargs["metavar"] = self.metavar
        return kwargs


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def seconds(name: str, default: float | None, help: str, *, zero: bool = False) -> Option:
    """A duration: finite, positive (or zero when `zero`), at most an hour."""
    return Option(name, help, "float", default, low=0.0, low_open=not zero, high=MAX_SECONDS, metavar="SECONDS")


def count(name: str, default: int | None, help: str, low: int, high: int, **more: Any) -> Option:
    return Option(name, help, "int", default, low=low, high=high, metavar="N", **more)


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
        problem=_target_problem,
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
        problem=_path_problem,
        metavar="DIR",
    ),
    Option(
        "model",
        "a model the target accepts (repeatable); also taken from session.created and the URL's model query",
        "list",
        problem=_word_problem,
        metavar="URI",
    ),
    Option(
        "model-name",
        "a supported model name (repeatable; default: speech-realtime-250923)",
        "list",
        problem=_model_name_problem,
        metavar="NAME",
    ),
    seconds("timeout", 5.0, "seconds to wait for each answer (default: 5)"),
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
        problem=_header_problem,
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
        f"against a live target; at most {LIVE_LISTENING} more stay open there only to listen out their last "
        "answer timeout)",
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
        "heard out; shrinking stops at it too); what was not reached is reported and the run is never "
        "called conformant (exit 3, or 1 if a requirement already failed)",
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
    Option("ca-file", "wss://: trust the CA certificates in this PEM file too", problem=_path_problem, metavar="FILE"),
    Option("insecure", "wss://: do not verify the server certificate", "flag", False),
    Option(
        "config",
        "settings file (default: ./realtime-conformance.toml, else [tool.realtime-conformance] in ./pyproject.toml)",
        problem=_path_problem,
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
        problem=_path_problem,
        metavar="FILE",
    ),
    Option(
        "expected-failures",
        "known-failure baseline (YAML or JSON: id, reason, optional expires YYYY-MM-DD, link): only failures not "
        "listed fail the run",
        problem=_path_problem,
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
        problem=_xdist_problem,
        metavar="OPTION",
    ),
)


def path(name: str, help: str, default: str | None = None, *, positional: bool = False) -> Option:
    """A file or folder to read or write: named, without a NUL."""
    return Option(name, help, default=default, problem=_path_problem, positional=positional, metavar=name.upper())


VALIDATE_OPTIONS: tuple[Option, ...] = (
    path("file", "the transcript file (.jsonl)", positional=True),
    RECORDED_DIALECT,
    seconds("timeout", 5.0, "seconds, for frames without a header (default: 5)"),
    Option(
        "model-name",
        "a supported model name (repeatable; default: the documented one)",
        "list",
        problem=_model_name_problem,
        metavar="NAME",
    ),
    Option("strict", "SHOULD failures also make it non-conformant", "flag", False),
    path("policy", "judge under the verdict policy a run recorded in this summary.json (instead of --strict)"),
)

MOCK_OPTIONS: tuple[Option, ...] = (
    DIALECT,
    count("port", 0, "port to listen on (default: a free one)", 0, 65535),
    Option("host", "address to listen on (default: 127.0.0.1)", default="127.0.0.1", problem=_host_problem),
    Option("fault", "misbehave this way (repeatable)", "list", metavar="NAME"),
    Option("list-faults", "list the faults and the requirements they trip", "flag", False),
    Option(
        "model",
        "a model the mock accepts (repeatable; default: a demo folder's speech-realtime-250923)",
        "list",
        problem=_word_problem,
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
    Option("public-key", "the certifier's Ed25519 public key (PEM)", problem=_path_problem, metavar="FILE"),
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
        problem=_path_problem,
        metavar="FILE",
    ),
    Option(
        "public", "public key file to write (default: PRIVATE with .pub.pem)", problem=_path_problem, metavar="FILE"
    ),
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


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option], negatable: bool = False) -> None:
    """The argparse options of a command, from its table; with `negatable`, each flag also gets its
    negation, so the command line can undo what a settings file turned on."""
    for option in options:
        kwargs = option.argparse_kwargs(option.default)
        if option.positional:
            del kwargs["dest"], kwargs["default"]
            parser.add_argument(option.dest, **kwargs)
            continue
        parser.add_argument(*option.flags, **kwargs)
        if negatable and option.kind == "flag" and option.in_config:
            parser.add_argument(
                option.negation, dest=option.dest, action="store_false", default=option.default, help=argparse.SUPPRESS
            )


def add_pytest_options(add: Callable[..., None], names: Mapping[str, str], defaults: Mapping[str, Any]) -> None:
    """The pytest plugin's options: `names` maps a table name to its pytest flag (kept as they are today)."""
    by_name = {option.name: option for option in RUN_OPTIONS}
    for name, flag in names.items():
        option = by_name[name]
        kwargs = option.argparse_kwargs(defaults.get(name, option.default))
        del kwargs["dest"]  # pytest derives it from the flag, as before (another plugin may own `timeout`)
        add(flag, **kwargs)


def config_values(data: Mapping[str, Any], source: str, expand: Callable[[str, str], str]) -> dict[str, Any]:
    """Checked values (by dest) of a settings file's keys; raises OptionError naming the key.

    `expand(text, where)` expands ${ENV}; an error repeats the value as written (the ${…} template),
    never as expanded, since the environment may hold a secret.
    """
    by_key = {key: option for option in RUN_OPTIONS if option.in_config for key in (option.name, *option.aliases)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        option = by_key.get(key.replace("_", "-"))
        if option is None:
            raise OptionError(f"{source}: unknown setting {key!r} (see `realtime-conformance run --help`)")
        if option.dest in values:
            raise OptionError(f"{source}: {key} sets {option.name} a second time")
        where = f"{source}: {key}"

        def expand_here(text: str, where: str = where) -> str:
            return expand(text, where)

        try:
            values[option.dest] = option.from_config(raw, expand_here)
        except OptionError as exc:
            shown = f" = {_toml_repr(raw)}" if option.echo else ""
            raise OptionError(f"{where}{shown}: {exc}") from None
    return values


def _toml_repr(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."

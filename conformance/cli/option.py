"""What one option is: its type, default, bounds and help, and the checks every value passes, wherever it
comes from (the command line, a settings file, a pytest option): finite numbers, bounded counts, real
booleans, printable text. The options themselves are the table in `options`.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from conformance.transcript import MAX_TIMEOUT_S

Kind = Literal["str", "int", "float", "flag", "list", "choice"]

#: The longest duration an option takes: far above any sensible run, low enough that a typo
#: (an extra zero, `inf`) is refused instead of running for days.
MAX_SECONDS = MAX_TIMEOUT_S


class OptionError(ValueError):
    """A value an option cannot take; the message never repeats the value (it may hold a secret)."""


MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")


def model_name_problem(text: str) -> str | None:
    return None if MODEL_NAME.fullmatch(text) else "a model name is letters, digits and . _ : + - (no spaces)"


def word_problem(text: str) -> str | None:
    """A model URI and the like: one word of printable ASCII (an empty or spaced one never matches a model)."""
    if not text or not text.isascii() or not text.isprintable() or " " in text:
        return "must be non-empty printable ASCII without spaces"
    return None


def xdist_problem(text: str) -> str | None:
    """An option, never a bare word: pytest would take that for a folder of tests to collect and run."""
    return None if text.startswith("-") else "must be an option (starting with -), not a path"


def path_problem(text: str) -> str | None:
    return None if text.strip() else "must name a file or folder"


def host_problem(host: str) -> str | None:
    """A host name the resolver can be asked about (an IP literal, or labels of 1 to 63 characters)."""
    try:
        host.strip("[]").encode("idna")
    except UnicodeError:
        return "not a valid host name (empty or over-long label)"
    return None


def target_problem(text: str) -> str | None:
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
    return host_problem(parts.hostname or "")


HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)


def header_problem(text: str) -> str | None:
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


def path(name: str, help: str, default: str | None = None, *, positional: bool = False) -> Option:
    """A file or folder to read or write: named, without a NUL."""
    return Option(name, help, default=default, problem=path_problem, positional=positional, metavar=name.upper())


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

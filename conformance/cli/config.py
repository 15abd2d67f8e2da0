"""Settings files for `run`: realtime-conformance.toml, [tool.realtime-conformance] or --config FILE.

Keys are the long option names (or their aliases); every value is checked by the same table as the
command line (conformance/cli/options.py); strings may use ${ENV}; the command line wins, because the
file's values become the defaults of the `run` parser.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from conformance.cli.option import OptionError
from conformance.cli.options import RUN_OPTIONS
from conformance.cli.paths import not_a_file
from conformance.readers import CONFIG_BYTES, ReadError, read_text


class ConfigError(Exception):
    """A settings file that cannot be used: one line, exit 2."""


ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(value: str, where: str) -> str:
    """${NAME} in config strings, from the environment; a missing variable is a usage error."""

    def lookup(match: re.Match[str]) -> str:
        if match[1] not in os.environ:
            raise ConfigError(f"{where}: ${{{match[1]}}} is not set in the environment")
        return os.environ[match[1]]

    return ENV_REF.sub(lookup, value)


def load_config(path: str | None) -> tuple[dict[str, Any], str]:
    """Settings for `run` from realtime-conformance.toml, pyproject.toml or --config FILE."""
    candidates = [Path(path)] if path else [Path("realtime-conformance.toml"), Path("pyproject.toml")]
    for candidate in candidates:
        problem = not_a_file(candidate)
        if problem == "no such file" and not path:
            continue
        if problem is not None:  # a folder named realtime-conformance.toml was skipped without a word
            raise ConfigError(f"--config {path}: {problem}" if path else f"{candidate}: {problem}")
        try:
            # a byte order mark, as some editors write one, is no TOML statement
            data = tomllib.loads(read_text(candidate, CONFIG_BYTES).removeprefix("\ufeff"))
        except ReadError as exc:
            raise ConfigError(str(exc)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: not valid TOML ({exc})") from None
        except RecursionError:
            raise ConfigError(f"{candidate}: not valid TOML (nested too deeply)") from None
        if candidate.name == "pyproject.toml" and not path:
            tool = data.get("tool")
            section = tool.get("realtime-conformance") if isinstance(tool, dict) else None
            if not section:
                continue
            if not isinstance(section, dict):
                raise ConfigError(f"{candidate}: [tool.realtime-conformance] must be a table")
            return section, str(candidate)
        return data, str(candidate)
    return {}, ""


class _ProbeFailed(Exception):
    pass


class _Probe(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ProbeFailed(message)


def apply_config(run_parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Make the config file's values the defaults of `run`, so the command line still wins."""
    probe = _Probe(add_help=False)
    probe.add_argument("--config")
    try:
        known, _ = probe.parse_known_args(list(argv))
    except _ProbeFailed:  # the `run` parser itself reports the mistake, in one line
        return
    data, source = load_config(known.config)
    if not data:
        return
    try:
        defaults = config_values(data, source, expand)
    except OptionError as exc:
        raise ConfigError(str(exc)) from None
    run_parser.set_defaults(**defaults)


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

"""Settings files for `run`: realtime-conformance.toml, [tool.realtime-conformance] or --config FILE.

Keys are the long option names; strings may use ${ENV}; the command line wins, because the file's
values become the defaults of the `run` parser.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A settings file that cannot be used: one line, exit 2."""


ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(value: Any, where: str) -> Any:
    """${NAME} in config strings, from the environment; a missing variable is a usage error."""
    if isinstance(value, list):
        return [expand(v, where) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> str:
        if match[1] not in os.environ:
            raise ConfigError(f"{where}: ${{{match[1]}}} is not set in the environment")
        return os.environ[match[1]]

    return ENV_REF.sub(lookup, value)


def load_config(path: str | None) -> tuple[dict[str, Any], str]:
    """Settings for `run` from realtime-conformance.toml, pyproject.toml or --config FILE."""
    candidates = [Path(path)] if path else [Path("realtime-conformance.toml"), Path("pyproject.toml")]
    for candidate in candidates:
        if not candidate.is_file():
            if path:
                raise ConfigError(f"--config {path}: no such file")
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{candidate}: not valid TOML ({exc})") from None
        if candidate.name == "pyproject.toml" and not path:
            data = data.get("tool", {}).get("realtime-conformance", {})
            if not data:
                continue
        return data, str(candidate)
    return {}, ""


def apply_config(run_parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Make the config file's values the defaults of `run`, so the command line still wins."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--config")
    known, _ = probe.parse_known_args(list(argv))
    data, source = load_config(known.config)
    if not data:
        return
    options = {a.dest: a for a in run_parser._actions if a.option_strings}
    defaults = {}
    for key, value in data.items():
        dest = key.replace("-", "_")
        action = options.get(dest)
        if action is None or dest in ("help", "config"):
            raise ConfigError(f"{source}: unknown setting {key!r} (see `realtime-conformance run --help`)")
        value = expand(value, f"{source}: {key}")
        if isinstance(action, argparse._AppendAction):
            value = value if isinstance(value, list) else [value]
        elif callable(action.type) and value is not None and not isinstance(value, bool):
            try:
                value = action.type(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {key} = {value!r} is not a valid value") from None
        defaults[dest] = value
    run_parser.set_defaults(**defaults)

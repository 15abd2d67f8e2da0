"""Bounded readers for the files a user hands us: a size cap on every read, one line on any failure.

Config files, baselines, transcripts and bundles may be anything (`/dev/zero`, a binary, a JSON
nest thousands deep); each reader stops at its cap and turns every way a file can be unusable into
a `ReadError` whose message is one line.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, BinaryIO

MiB = 1 << 20
CONFIG_BYTES = 1 * MiB
BASELINE_BYTES = 4 * MiB
TRANSCRIPT_BYTES = 256 * MiB
MANIFEST_BYTES = 16 * MiB
SUMMARY_BYTES = 64 * MiB


class ReadError(ValueError):
    """A file that cannot be used; the message is one line naming the file."""


def open_input(path: Path) -> BinaryIO:
    """`path` opened for reading without waiting for a writer: a named pipe nobody writes to hung `verify` and
    `validate` for good (a manifest, a signature, a transcript, the bundle itself); read with none, it ends at
    once, empty. Raises OSError, and ValueError for a path with a NUL byte."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_bytes(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of `path`; a longer file is refused rather than read on."""
    try:
        with open_input(path) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a path with a NUL byte
        raise ReadError(f"cannot read {path}: {exc}") from None
    if len(data) > limit:
        raise ReadError(f"{path}: larger than {limit // MiB} MiB, refused")
    return data


def read_text(path: Path, limit: int) -> str:
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: str | bytes) -> Any:
    """json.loads as the JSON standard has it: no NaN, no Infinity, no number that overflows to one
    (a non-finite time or timeout would silently change a verdict)."""
    return json.loads(text, parse_float=_finite, parse_constant=_no_constant)


def parse_json(text: str | bytes, where: str) -> Any:
    """Strict JSON of any depth the parser survives; too deep or malformed is a ReadError."""
    try:
        return strict_loads(text)
    except RecursionError:
        raise ReadError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise ReadError(f"{where}: not valid JSON ({str(exc).splitlines()[0]})") from None

"""Known-failure baselines: a run gates only on failures that are news (like OpenID's expected failures).

A baseline file (YAML or JSON) lists requirement IDs with a reason, an optional expiry date and an
optional link. A listed failure is expected; a listed requirement that now passes is fixed; an
entry past its expiry no longer excuses anything.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.readers import BASELINE_BYTES, ReadError, read_text


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Expected:
    id: str
    reason: str
    expires: dt.date | None = None
    link: str = ""

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires


@dataclass(frozen=True)
class BaselineReport:
    file: str
    expected: tuple[str, ...]
    unexpected: tuple[str, ...]
    fixed: tuple[str, ...]
    expired: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "expected": list(self.expected),
            "unexpected": list(self.unexpected),
            "fixed": list(self.fixed),
            "expired": list(self.expired),
        }


def _entry(raw: Any, where: str, known: set[str]) -> Expected:
    if not isinstance(raw, dict):
        raise BaselineError(f"{where}: each entry must be a mapping with id and reason")
    rid, reason = raw.get("id"), raw.get("reason")
    if not isinstance(rid, str) or rid not in known:
        raise BaselineError(f"{where}: id {rid!r} is not a requirement ID (see `realtime-conformance requirements`)")
    if not isinstance(reason, str) or not reason.strip():
        raise BaselineError(f"{where}: {rid} needs a reason")
    expires = raw.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise BaselineError(f"{where}: {rid} expires {expires!r}, not a YYYY-MM-DD date") from None
    # YAML reads `2024-01-01T00:00:00` as a datetime, a date too in Python, but one no date compares with
    if expires is not None and (not isinstance(expires, dt.date) or isinstance(expires, dt.datetime)):
        raise BaselineError(f"{where}: {rid} expires must be a YYYY-MM-DD date (a day, not a time)")
    link = raw.get("link", "")
    if not isinstance(link, str):
        raise BaselineError(f"{where}: {rid} link must be a string")
    return Expected(rid, reason.strip(), expires, link)


def load_baseline(path: Path, known: set[str]) -> list[Expected]:
    """Read a baseline: a list of entries, or a mapping with `expected_failures: [...]`."""
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        text = read_text(path, BASELINE_BYTES)
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except ReadError as exc:
        raise BaselineError(str(exc)) from None
    except RecursionError:
        raise BaselineError(f"{path}: not valid {kind}: nested too deeply") from None
    except (ValueError, yaml.YAMLError) as exc:  # YAML's own dates (expires: 2020-13-45) raise ValueError
        raise BaselineError(f"{path}: not valid {kind}: {exc}".splitlines()[0]) from None
    if isinstance(data, dict):
        data = data.get("expected_failures")
    if not isinstance(data, list):
        raise BaselineError(f"{path}: expected a list of entries (or expected_failures: [...])")
    entries = [_entry(raw, f"{path}: entry {i + 1}", known) for i, raw in enumerate(data)]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise BaselineError(f"{path}: {entry.id} is listed twice")
        seen.add(entry.id)
    return entries

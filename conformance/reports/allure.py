"""Allure results written from the run's `Outcome`: one result per requirement, the evidence, the verdict.

Written here rather than by allure-pytest, so each requirement has the identity a QA lead's history
needs (its ID and dialect, never the seed, profile or exchange count), a failure shows the frames
that broke the rule pretty-printed and marked, and no label says which host or thread judged it.
Everything that came from the target or the user goes through the run's `Redactor`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.contract import spec_hash
from conformance.redact import escape_surrogates, redactor
from conformance.reports.evidence import SHOWN_VIOLATIONS, difference, exchange_text, failure_details
from conformance.reports.summary import transcripts_for
from conformance.run.engine import Outcome
from conformance.verdict.results import RequirementResult

SEVERITY = {"MUST": "critical", "SHOULD": "normal"}
#: Connections whose exchange is attached to a failed requirement's result.
SHOWN_CONNECTIONS = 5
RUN_ATTACHMENT_CHARS = 64 << 20  # then failures point to transcripts/ (which has every frame) only
#: Allure categories: (name, statuses, a marker the failure message carries). Rendered for Allure 3
#: (allurerc, JavaScript regex, searched) and for Allure 2 (categories.json, Java regex, matched whole).
CATEGORIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("MUST failures", ("failed",), "[MUST]"),
    ("SHOULD failures", ("failed",), "[SHOULD]"),
    ("Transport errors: the target could not be tested", ("skipped", "broken"), "not run: "),
    ("Not applicable to this target", ("skipped",), "not applicable: "),
    ("Expected failures (baseline)", ("skipped",), "expected failure (baseline "),
    ("Not exercised", ("skipped",), ""),
)
GLOBALS_FILE = "realtime-conformance-globals.json"
#: The fullName of results this suite wrote before, and of allure-pytest's copies of its items.
OURS = re.compile(r"^realtime-conformance\.|(^|\.)test_requirements#test_requirement$")
#: The suite's fixtures (and parameter), which allure-pytest records in containers of their own.
OUR_FIXTURES = frozenset({"conformance", "requirement_id"})
VERDICT_TITLE = {"conformant": "CONFORMANT", "non-conformant": "NON-CONFORMANT", "error": "NOT FULLY TESTED"}


def identity(requirement_id: str, dialect: str) -> str:
    """A requirement's testCaseId and historyId: the same across seeds, profiles and suite versions."""
    return hashlib.md5(f"realtime-conformance/{dialect}/{requirement_id}".encode()).hexdigest()


def dialect_of(outcome: Outcome) -> str:
    """The dialect the run spoke: part of a requirement's identity (one requirement ID, two dialects' rules)."""
    return outcome.settings.dialect


def verdict_line(outcome: Outcome) -> str:
    """The verdict as the report's first words, with what it rests on."""
    failed = [r for r in outcome.results if r.status == "failed"]
    excused = set(outcome.baseline.expected) if outcome.baseline is not None else set()
    must = [r.requirement.id for r in failed if r.requirement.level == "MUST" and r.requirement.id not in excused]
    head = f"{VERDICT_TITLE[outcome.verdict]}"
    if outcome.verdict == "non-conformant" and must:
        shown = ", ".join(must[:5]) + (f" and {len(must) - 5} more" if len(must) > 5 else "")
        return f"{head}: {len(must)} MUST requirement(s) failed ({shown})"
    if outcome.verdict == "non-conformant":
        return f"{head}: {len(failed)} requirement(s) failed (strict, or a stale baseline)"
    if outcome.verdict == "error":
        return f"{head}: {outcome.not_fully_tested or 'the target could not be tested'}"
    return f"{head}: no MUST requirement failed"


def _write_attachment(results_dir: Path, name: str, text: str, kind: str = "text/plain") -> dict[str, str]:
    extension = {"text/plain": "txt", "application/json": "json"}[kind]
    source = f"{uuid.uuid4()}-attachment.{extension}"
    (results_dir / source).write_text(escape_surrogates(text), encoding="utf-8")
    return {"name": name, "source": source, "type": kind}


@dataclass
class Budget:
    """Characters of exchange attachments a run may still write (a flood fails many requirements at once)."""

    left: int = RUN_ATTACHMENT_CHARS


def result_json(
    outcome: Outcome, result: RequirementResult, results_dir: Path, stop_ms: int, budget: Budget | None = None
) -> dict[str, Any]:
    """One requirement's Allure result (attachments written beside it)."""
    safe = redactor(outcome.settings.auth.secrets)
    r = result.requirement
    key = identity(r.id, dialect_of(outcome))
    doc: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "historyId": key,
        "testCaseId": key,
        "fullName": f"realtime-conformance.{dialect_of(outcome)}.{r.id}",
        "name": f"{r.id}: {r.title}",
        "description": f"**{r.level}** — {r.title}\n\n> {r.source.quote}\n\n— {r.source.citation}; at `{r.path}`\n\n"
        f"Exercised by {result.exercised} exchange(s).",
        "labels": [
            {"name": "epic", "value": r.event},
            {"name": "feature", "value": r.path},
            {"name": "story", "value": r.id},
            {"name": "severity", "value": SEVERITY[r.level]},
            {"name": "tag", "value": r.level},
        ],
        # judged together from the run's exchanges: no requirement took the run's time
        "start": stop_ms,
        "stop": stop_ms,
        "stage": "finished",
        "attachments": [],
    }
    expected = outcome.baseline is not None and r.id in outcome.baseline.expected
    if result.status == "failed":
        message, trace = failure_details(result, safe)
        details: dict[str, Any] = {"message": message, "trace": trace}
        # read back from the files the run wrote (masked), as a streamed run keeps none in memory
        by_label = {t.label: t for t in transcripts_for(outcome, result, max(SHOWN_VIOLATIONS, SHOWN_CONNECTIONS))}
        diff = difference(result, by_label)
        if diff is not None:
            details["expected"], details["actual"] = safe.mask(diff[0]), safe.mask(diff[1])
        labels = list(dict.fromkeys(v.connection for v in result.violations))
        budget = budget or Budget()
        for label in labels[:SHOWN_CONNECTIONS]:
            if label in by_label and budget.left > 0:
                text = exchange_text(by_label[label], result, safe)
                budget.left -= len(text)
                doc["attachments"].append(_write_attachment(results_dir, safe.mask(f"exchange: {label}"), text))
        if expected:
            assert outcome.baseline is not None
            details["message"] = f"expected failure (baseline {outcome.baseline.file}): {message}"
            doc["labels"].append({"name": "tag", "value": "expected-failure"})
        doc["status"] = "skipped" if expected else "failed"
        doc["statusDetails"] = details
    elif result.status == "skipped":
        why = result.reason
        if outcome.failure is not None:
            why = f"not run: {outcome.failure.message}"
        doc["status"] = "skipped"
        doc["statusDetails"] = {"message": safe.text(why)}
    else:
        doc["status"] = "passed"
    return doc


def write_results(outcome: Outcome, results_dir: Path) -> None:
    """allure-results/ from the outcome alone: results, attachments, environment, categories, verdict."""
    results_dir.mkdir(parents=True, exist_ok=True)
    remove_ours(results_dir)
    started = datetime.fromisoformat(outcome.started_at).timestamp()
    stop_ms = int((started + outcome.duration_s) * 1000)
    budget = Budget()
    for result in outcome.results:
        doc = result_json(outcome, result, results_dir, stop_ms, budget)
        text = escape_surrogates(json.dumps(doc, ensure_ascii=False, indent=1))
        (results_dir / f"{doc['uuid']}-result.json").write_text(text, encoding="utf-8")
    if outcome.verdict != "conformant":
        # Allure 3 shows global errors on the report's first page: the verdict is the first thing seen
        safe = redactor(outcome.settings.auth.secrets)
        globals_doc = {"errors": [{"message": safe.text(verdict_line(outcome)), "timestamp": stop_ms}]}
        (results_dir / GLOBALS_FILE).write_text(json.dumps(globals_doc), encoding="utf-8")
    write_extras(outcome, results_dir)
    line = redactor(outcome.settings.auth.secrets).text(verdict_line(outcome))
    verdict = {"verdict": outcome.verdict, "line": line}  # the rendering names the report by it
    (results_dir / "verdict.json").write_text(json.dumps(verdict), encoding="utf-8")


def _attachment_files(node: dict[str, Any]) -> Iterator[str]:
    for attachment in node.get("attachments") or ():
        if isinstance(attachment, dict) and isinstance(attachment.get("source"), str):
            yield Path(attachment["source"]).name
    for child in node.get("steps") or ():
        if isinstance(child, dict):
            yield from _attachment_files(child)


def remove_ours(results_dir: Path) -> None:
    """Remove the results of an earlier run of the suite (and allure-pytest's copies of its items) with
    their attachments; the results of other tests a pytest session wrote into the folder stay."""
    removed: set[str] = set()
    for path in results_dir.glob("*-result.json"):
        doc = _read_json(path)
        if isinstance(doc, dict) and OURS.search(str(doc.get("fullName", ""))):
            for name in _attachment_files(doc):
                (results_dir / name).unlink(missing_ok=True)
            path.unlink()
            removed.add(str(doc.get("uuid")))
    for path in results_dir.glob("*-container.json"):  # allure-pytest's fixtures of those items
        doc = _read_json(path)
        if not isinstance(doc, dict):
            continue
        children = doc.get("children") or []
        fixtures = [f.get("name", "") for k in ("befores", "afters") for f in doc.get(k) or () if isinstance(f, dict)]
        ours = bool(fixtures) and all(str(name).split("::")[0] in OUR_FIXTURES for name in fixtures)
        if isinstance(children, list) and set(map(str, children)) <= removed and (children or ours):
            path.unlink()
    (results_dir / GLOBALS_FILE).unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_extras(outcome: Outcome, results_dir: Path) -> None:
    """environment.properties and categories.json (Allure 2's form, which Allure 3 reads too)."""
    safe = redactor(outcome.settings.auth.secrets)
    environment = {
        "verdict": outcome.verdict,
        "target": safe.url(outcome.url),
        "target.kind": outcome.settings.kind,
        "profile": outcome.settings.profile,
        "dialect": dialect_of(outcome),
        "seed": str(outcome.seed),
        "suite.version": __version__,
        "spec.hash": spec_hash(),
    }
    lines = [f"{k}={v.replace(chr(10), ' ')}" for k, v in environment.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    allure2 = [
        {
            "name": name,
            "matchedStatuses": list(statuses),
            **({"messageRegex": f"(?s).*{re.escape(marker)}.*"} if marker else {}),
        }
        for name, statuses, marker in CATEGORIES
    ]
    (results_dir / "categories.json").write_text(json.dumps(allure2, indent=2) + "\n", encoding="utf-8")


def allure3_categories() -> list[dict[str, Any]]:
    return [
        {"name": name, "matchedStatuses": list(statuses), **({"messageRegex": re.escape(marker)} if marker else {})}
        for name, statuses, marker in CATEGORIES
    ]

"""Reports: summary.json and transcripts (JUnit's properties: `reports.junit`; the Allure results: `reports.allure`,
their evidence `reports.evidence`; the HTML: `reports.html`).

Everything written here comes from an `Outcome`, whose frames are raw (they were judged as they
came): every text that came from the target or the user goes through the run's `Redactor` on its
way out, and the only URL written is the public one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.contract import SPEC_DIR, load_contract, read_json, spec_hash
from conformance.redact import Redactor, escape_surrogates, one_line, redactor
from conformance.run.engine import Outcome
from conformance.run.recorder import ALL, CONNECTION_BYTES
from conformance.transcript import Frame, Transcript, TranscriptError, parse_jsonl
from conformance.verdict import UNCERTIFIED_KIND
from conformance.verdict.results import RequirementResult

SUMMARY_SCHEMA = SPEC_DIR / "summary.schema.json"


def redactor_of(outcome: Outcome) -> Redactor:
    """The run's one Redactor: every form of the credentials it was given."""
    return redactor(outcome.settings.auth.secrets)


#: Evidence longer than this is shortened in summary.json (the whole frame is in the transcript), so a
#: target flooding large malformed events cannot multiply the report's size by its violations.
EVIDENCE_CHARS = 1 << 16


def evidence(frame: Frame | None, safe: Redactor) -> str | None:
    if frame is None:
        return None
    text = frame.describe(safe)
    if len(text) <= EVIDENCE_CHARS:
        return text
    return f"{text[:EVIDENCE_CHARS]}… [{len(text) - EVIDENCE_CHARS} more characters: see the transcript]"


def requirement_entry(result: RequirementResult, files: dict[str, str], safe: Redactor) -> dict[str, Any]:
    """One requirement of summary.json: what it is, where it comes from, how it fared and the evidence."""
    violations = []
    for v in result.violations:
        entry: dict[str, Any] = {
            "message": safe.mask(v.message),
            "path": safe.mask(v.path),
            "sent": evidence(v.sent, safe),
            "received": evidence(v.received, safe),
        }
        if v.connection in files:
            entry["transcript"] = f"transcripts/{files[v.connection]}"
        violations.append(entry)
    r = result.requirement
    item: dict[str, Any] = {
        "id": r.id,
        "level": r.level,
        "path": r.path,
        "title": r.title,
        "source": r.source.to_json(),
        "status": result.status,
        "exchanges": result.exercised,
        "violations": violations,
    }
    if result.omitted:  # evidence is kept for the first violations only; the rest are counted
        item["violations_omitted"] = result.omitted
    if result.reason:
        item["reason"] = safe.mask(result.reason)
    if result.not_applicable:
        item["not_applicable"] = True
    return item


def error_entry(outcome: Outcome, safe: Redactor) -> dict[str, str] | None:
    """Why the target was not (fully) tested, by kind, or None."""
    if outcome.failure is not None:
        return {"kind": outcome.failure.kind, "message": safe.mask(outcome.failure.message)}
    if outcome.incomplete is None:
        thin = outcome.not_fully_tested  # a certified run's shortfall, which its policy derives again
        return None if thin is None else {"kind": UNCERTIFIED_KIND, "message": safe.mask(thin)}
    why = (
        ("internal", outcome.internal_error is not None),
        ("interrupted", outcome.interrupted),
        ("cut", bool(outcome.record.cut)),
        ("aborted", bool(outcome.record.aborted)),
    )
    kind = next((k for k, applies in why if applies), "incomplete")
    return {"kind": kind, "message": safe.mask(outcome.incomplete)}


def run_facts(outcome: Outcome, safe: Redactor) -> dict[str, Any]:
    """What bounded or shaped the run: byte limits, what was not reached, throttling, selection, shrinking."""
    log = outcome.record
    facts: dict[str, Any] = {
        "limits": {
            "max_connection_bytes": outcome.settings.max_connection_bytes,
            "max_run_bytes": outcome.settings.max_run_bytes,
            "received_bytes": log.received_bytes,
            "cut": [{"connection": c.connection, "reason": c.reason} for c in log.cut],
        }
    }
    if log.unreached_connections or log.unsent_updates:
        facts["not_reached"] = {"connections": log.unreached_connections, "updates": log.unsent_updates}
    if log.throttled:
        facts["throttling"] = {"errors": log.throttled, "backoff_s": round(log.throttled_s, 3)}
    if outcome.baseline is not None:
        facts["baseline"] = safe.value(outcome.baseline.to_json())
    if outcome.settings.selected is not None:
        facts["selected"] = list(outcome.settings.selected)
    if outcome.shrunk:
        facts["minimal_failures"] = [
            {
                "requirement": s.requirement,
                "updates": [safe.mask(u) for u in s.updates],
                "transcript": f"transcripts/minimal-{s.requirement}.jsonl",
            }
            for s in outcome.shrunk
        ]
    return facts


def summary(outcome: Outcome, files: dict[str, str]) -> dict[str, Any]:
    """summary.json's document; what came from the target or the user is masked."""
    contract = load_contract(outcome.settings.model_names or None, outcome.settings.dialect)
    safe = redactor_of(outcome)
    requirements = [requirement_entry(result, files, safe) for result in outcome.results]
    counts = {s: sum(1 for r in outcome.results if r.status == s) for s in ("passed", "failed", "skipped")}
    doc: dict[str, Any] = {
        "suite": {"name": "realtime-conformance", "version": __version__},
        "spec": {
            "source": contract.dialect_info.get("title", contract.dialect),
            "version": contract.version,
            "hash": spec_hash(),
            "dialect": contract.dialect,
        },
        "target": {"url": safe.url(outcome.url), "kind": outcome.settings.kind},
        "profile": outcome.settings.profile,
        "seed": outcome.seed,
        **({"replay": {"file": safe.mask(outcome.replayed)}} if outcome.replayed else {}),
        "started_at": outcome.started_at,
        "duration_s": outcome.duration_s,
        "verdict": outcome.verdict,
        "counts": {
            "exchanges": outcome.judgement.exchanges,
            "requirements_passed": counts["passed"],
            "requirements_failed": counts["failed"],
            "requirements_skipped": counts["skipped"],
        },
        "requirements": requirements,
        "policy": {**outcome.policy.to_json(), "baseline_file": safe.mask(outcome.policy.baseline_file)},
    }
    if outcome.judgement.unpaired:
        doc["counts"]["unpaired_exchanges"] = outcome.judgement.unpaired
    error = error_entry(outcome, safe)
    if error is not None:
        doc["error"] = error
    doc.update(run_facts(outcome, safe))
    if outcome.baseline is not None:
        for item in requirements:
            if item["id"] in outcome.baseline.expected:
                item["expected_failure"] = True
    return doc


def write_transcripts(outcome: Outcome, directory: Path) -> dict[str, str]:
    """All transcripts (all.jsonl) and one file per connection with a violation; returns the names of
    those kept as evidence. The run wrote them as its connections ended: they are copied here (a
    block at a time) only when it wrote them elsewhere."""
    directory.mkdir(parents=True, exist_ok=True)
    safe = redactor_of(outcome)
    source = outcome.transcripts_dir
    if source is not None and source.is_dir() and source.resolve() != directory.resolve():
        for old in directory.glob("*.jsonl"):
            old.unlink()
        for written in source.glob("*.jsonl"):
            shutil.copyfile(written, directory / written.name)
    (directory / ALL).touch()
    for shrunk in outcome.shrunk:
        minimal = directory / f"minimal-{shrunk.requirement}.jsonl"
        minimal.write_text(shrunk.transcript.to_jsonl(safe), encoding="utf-8")
    return dict(outcome.files)


def transcripts_for(outcome: Outcome, result: RequirementResult, limit: int = 5) -> list[Transcript]:
    """The first `limit` failing connections of `result`, read back from the files the run wrote (masked)."""
    out: list[Transcript] = []
    for label in dict.fromkeys(v.connection for v in result.violations):
        name = outcome.files.get(label)
        if name is None or outcome.transcripts_dir is None or len(out) >= limit:
            continue
        path = outcome.transcripts_dir / name
        try:
            if path.stat().st_size <= CONNECTION_BYTES:
                out += parse_jsonl(path.read_text(encoding="utf-8"), outcome.settings.timeout_s)
        except (OSError, UnicodeDecodeError, TranscriptError):
            continue  # evidence only: summary.json still names the file
    return out[:limit]


def write_summary(outcome: Outcome, report_dir: Path) -> dict[str, Any]:
    """summary.json, summary.md (for a CI job summary or a PR comment) and badge.svg."""
    report_dir.mkdir(parents=True, exist_ok=True)
    files = write_transcripts(outcome, report_dir / "transcripts")
    doc = summary(outcome, files)
    # the document is masked already; lone surrogates (from the target) become JSON escapes
    text = escape_surrogates(json.dumps(doc, indent=2, ensure_ascii=False))
    (report_dir / "summary.json").write_text(text + "\n", encoding="utf-8")
    (report_dir / "summary.md").write_text(escape_surrogates(markdown(doc)), encoding="utf-8")
    (report_dir / "badge.svg").write_text(badge(doc), encoding="utf-8")
    return doc


def markdown(doc: dict[str, Any]) -> str:
    """The summary as Markdown: verdict first, then what failed, then the counts."""
    counts = doc["counts"]
    icon = {"conformant": "✅", "non-conformant": "❌", "error": "⚠️"}[doc["verdict"]]
    lines = [
        f"## {icon} Realtime API conformance: {doc['verdict']}",
        "",
        f"Target `{doc['target']['url']}` ({doc['target']['kind']}), profile `{doc['profile']}`, seed `{doc['seed']}`, "
        f"suite {doc['suite']['version']}, dialect `{doc['spec'].get('dialect', 'yandex')}`, "
        f"spec `{doc['spec'].get('hash', '')[:12]}`.",
        "",
        f"**{counts['requirements_passed']} passed, {counts['requirements_failed']} failed, "
        f"{counts['requirements_skipped']} skipped** over {counts['exchanges']} exchanges.",
    ]
    if "error" in doc:
        lines += ["", f"> {_cell(doc['error']['message'])}"]
    failed = [r for r in doc["requirements"] if r["status"] == "failed"]
    if failed:
        lines += ["", "| Requirement | Level | Expected | First violation |", "|---|---|---|---|"]
        for r in failed:
            first = _cell(r["violations"][0]["message"] if r["violations"] else r.get("reason", ""))
            expected = "yes" if r.get("expected_failure") else "no"
            lines.append(f"| `{r['id']}` {r['title']} | {r['level']} | {expected} | {first} |")
    baseline = doc.get("baseline")
    if baseline:
        tally = ", ".join(f"{key} {len(baseline[key])}" for key in ("expected", "unexpected", "fixed", "expired"))
        lines += ["", f"Baseline `{baseline['file']}`: {tally}."]
        for key in ("unexpected", "fixed", "expired"):
            if baseline[key]:
                lines.append(f"- {key}: {', '.join(f'`{x}`' for x in baseline[key])}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A target's text in Markdown: one line (`one_line`) that closes no table cell and opens no HTML
    (a `<!--` would hide the rest of the summary). Backslashes are escaped first: `\\|` would end the cell."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


#: The verdict's colour wherever it is drawn (the badge, the HTML report's logo).
VERDICT_COLORS = {"conformant": "#4c1", "non-conformant": "#e05d44", "error": "#9f9f9f"}


def badge(doc: dict[str, Any]) -> str:
    """A shields-style SVG: the verdict and passed/total."""
    counts = doc["counts"]
    total = counts["requirements_passed"] + counts["requirements_failed"] + counts["requirements_skipped"]
    label = f"realtime conformance ({doc['spec'].get('dialect', 'yandex')})"  # which contract it was judged by
    value = f"{doc['verdict']} {counts['requirements_passed']}/{total}"
    color = VERDICT_COLORS[doc["verdict"]]
    left, right = 6 * len(label) + 12, 6 * len(value) + 12
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + right}" height="20" role="img" '
        f'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        f'<rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{color}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label}</text><text x="{left + right / 2}" y="14">{value}</text></g></svg>\n'
    )


def summary_schema() -> dict[str, Any]:
    schema: dict[str, Any] = read_json(SUMMARY_SCHEMA)
    return schema

"""Reports: summary.json, transcripts, Allure extras, and the Allure HTML (Allure Report 3 CLI).

Everything written here comes from an `Outcome`, whose frames are raw (they were judged as they
came): every text that came from the target or the user goes through the run's `Redactor` on its
way out, and the only URL written is the public one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.contract import SPEC_DIR, load_contract, read_json, spec_hash
from conformance.engine import Outcome
from conformance.redact import Redactor, escape_surrogates, redactor
from conformance.results import RequirementResult
from conformance.transcript import Frame, Transcript

SUMMARY_SCHEMA = SPEC_DIR / "summary.schema.json"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "connection"


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


def summary(outcome: Outcome, files: dict[str, str]) -> dict[str, Any]:
    """summary.json's document; what came from the target or the user is masked."""
    contract = load_contract(outcome.settings.model_names or None)
    safe = redactor_of(outcome)
    requirements = []
    for result in outcome.results:
        violations = []
        for v in result.violations:
            label = v.connection
            entry: dict[str, Any] = {
                "message": safe.mask(v.message),
                "path": safe.mask(v.path),
                "sent": evidence(v.sent, safe),
                "received": evidence(v.received, safe),
            }
            if label in files:
                entry["transcript"] = f"transcripts/{files[label]}"
            violations.append(entry)
        r = result.requirement
        item: dict[str, Any] = {
            "id": r.id,
            "level": r.level,
            "path": r.path,
            "title": r.title,
            "status": result.status,
            "exchanges": result.exercised,
            "violations": violations,
        }
        if result.reason:
            item["reason"] = safe.mask(result.reason)
        if result.not_applicable:
            item["not_applicable"] = True
        requirements.append(item)
    counts = {s: sum(1 for r in outcome.results if r.status == s) for s in ("passed", "failed", "skipped")}
    doc: dict[str, Any] = {
        "suite": {"name": "realtime-conformance", "version": __version__},
        "spec": {
            "source": "Yandex Cloud AI Studio Realtime API: session.updated",
            "version": contract.version,
            "hash": spec_hash(),
        },
        "target": {"url": safe.url(outcome.url), "kind": outcome.settings.kind},
        "profile": outcome.settings.profile,
        "seed": outcome.seed,
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
    }
    if outcome.judgement.unpaired:
        doc["counts"]["unpaired_exchanges"] = outcome.judgement.unpaired
    if outcome.failure is not None:
        doc["error"] = {"kind": outcome.failure.kind, "message": safe.mask(outcome.failure.message)}
    elif outcome.incomplete is not None:
        why = (
            ("internal", outcome.internal_error is not None),
            ("interrupted", outcome.interrupted),
            ("cut", bool(outcome.log.cut)),
            ("aborted", bool(outcome.log.aborted)),
        )
        kind = next((k for k, applies in why if applies), "incomplete")
        doc["error"] = {"kind": kind, "message": safe.mask(outcome.incomplete)}
    doc["limits"] = {
        "max_connection_bytes": outcome.settings.max_connection_bytes,
        "max_run_bytes": outcome.settings.max_run_bytes,
        "received_bytes": outcome.log.received_bytes,
        "cut": [{"connection": c.connection, "reason": c.reason} for c in outcome.log.cut],
    }
    if outcome.log.throttled:
        doc["throttling"] = {"errors": outcome.log.throttled, "backoff_s": round(outcome.log.throttled_s, 3)}
    if outcome.baseline is not None:
        doc["baseline"] = safe.value(outcome.baseline.to_json())
        for item in requirements:
            if item["id"] in outcome.baseline.expected:
                item["expected_failure"] = True
    if outcome.settings.selected is not None:
        doc["selected"] = list(outcome.settings.selected)
    if outcome.shrunk:
        doc["minimal_failures"] = [
            {
                "requirement": s.requirement,
                "updates": [safe.mask(u) for u in s.updates],
                "transcript": f"transcripts/minimal-{s.requirement}.jsonl",
            }
            for s in outcome.shrunk
        ]
    return doc


def write_transcripts(outcome: Outcome, directory: Path) -> dict[str, str]:
    """All transcripts (all.jsonl) and one file per connection with a violation; returns the names."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.jsonl"):
        old.unlink()
    safe = redactor_of(outcome)
    with (directory / "all.jsonl").open("w", encoding="utf-8") as out:
        for transcript in outcome.log.transcripts:  # one at a time: a run's worth of text is never copied whole
            out.write(transcript.to_jsonl(safe))
    failing = {v.connection for r in outcome.results for v in r.violations}
    names: dict[str, str] = {}
    for index, transcript in enumerate(outcome.log.transcripts, start=1):
        if transcript.label in failing:
            name = f"{index:03d}-{slug(transcript.label)}.jsonl"
            (directory / name).write_text(transcript.to_jsonl(safe), encoding="utf-8")
            names[transcript.label] = name
    for shrunk in outcome.shrunk:
        minimal = directory / f"minimal-{shrunk.requirement}.jsonl"
        minimal.write_text(shrunk.transcript.to_jsonl(safe), encoding="utf-8")
    return names


def transcripts_for(outcome: Outcome, result: RequirementResult) -> list[Transcript]:
    labels = {v.connection for v in result.violations}
    return [t for t in outcome.log.transcripts if t.label in labels]


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
        f"suite {doc['suite']['version']}, spec `{doc['spec'].get('hash', '')[:12]}`.",
        "",
        f"**{counts['requirements_passed']} passed, {counts['requirements_failed']} failed, "
        f"{counts['requirements_skipped']} skipped** over {counts['exchanges']} exchanges.",
    ]
    if "error" in doc:
        lines += ["", f"> {doc['error']['message']}"]
    failed = [r for r in doc["requirements"] if r["status"] == "failed"]
    if failed:
        lines += ["", "| Requirement | Level | Expected | First violation |", "|---|---|---|---|"]
        for r in failed:
            first = r["violations"][0]["message"] if r["violations"] else r.get("reason", "")
            first = first.replace("|", "\\|").replace("\n", " ")
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


def badge(doc: dict[str, Any]) -> str:
    """A shields-style SVG: the verdict and passed/total."""
    counts = doc["counts"]
    total = counts["requirements_passed"] + counts["requirements_failed"] + counts["requirements_skipped"]
    label, value = "realtime conformance", f"{doc['verdict']} {counts['requirements_passed']}/{total}"
    color = {"conformant": "#4c1", "non-conformant": "#e05d44", "error": "#9f9f9f"}[doc["verdict"]]
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


def allure_cli(search_from: Path | None = None) -> Path | None:
    """The project's pinned Allure Report 3 CLI in node_modules, if installed (and Node with it)."""
    if shutil.which("node") is None:
        return None
    for base in filter(None, (search_from, Path.cwd(), PROJECT_ROOT)):
        candidate = base / "node_modules" / ".bin" / "allure"
        if candidate.exists():
            return candidate
    return None


#: Allure categories: (name, statuses, a marker the failure message carries). Rendered for Allure 3
#: (allurerc, JavaScript regex, searched) and for Allure 2 (categories.json, Java regex, matched whole).
CATEGORIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("MUST failures", ("failed",), "[MUST]"),
    ("SHOULD failures", ("failed",), "[SHOULD]"),
    ("Transport errors: the target could not be tested", ("skipped", "broken"), "not run: "),
    ("Not applicable to this target", ("skipped",), "not applicable: "),
    ("Not exercised", ("skipped",), ""),
)


def allure3_categories() -> list[dict[str, Any]]:
    return [
        {"name": name, "matchedStatuses": list(statuses), **({"messageRegex": re.escape(marker)} if marker else {})}
        for name, statuses, marker in CATEGORIES
    ]


def write_allure_extras(outcome: Outcome, results_dir: Path) -> None:
    """environment.properties and categories.json beside allure-pytest's results."""
    results_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        "target": redactor_of(outcome).url(outcome.url),
        "target.kind": outcome.settings.kind,
        "profile": outcome.settings.profile,
        "seed": str(outcome.seed),
        "verdict": outcome.verdict,
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


def allure_config(report_dir: Path, output: Path, single_file: bool, history: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "Realtime API conformance",
        "output": str(output.resolve()),
        "categories": allure3_categories(),
        "plugins": {
            "awesome": {
                "options": {
                    "reportName": "Realtime API conformance",
                    "singleFile": single_file,
                    "groupBy": ["epic", "feature", "story"],
                }
            }
        },
    }
    if history:
        config["historyPath"] = str((report_dir / "history.jsonl").resolve())
    return config


def render_html(report_dir: Path, history: bool = False, timeout_s: float = 300.0) -> str | None:
    """Render allure-report/ and allure-report.html from allure-results/; None, or one line saying why not.

    With `history`, each rendering appends to report_dir/history.jsonl, so trends span runs.
    """
    cli = allure_cli()
    if cli is None:
        return "no HTML report: Allure Report 3 is not installed; run `npm ci` in the project (needs Node 20)"
    results = report_dir / "allure-results"
    if not results.is_dir():
        return f"no HTML report: {results} does not exist"
    single_dir = report_dir / "allure-single"
    for output, single in ((report_dir / "allure-report", False), (single_dir, True)):
        shutil.rmtree(output, ignore_errors=True)
        config_path = report_dir / f".allurerc-{'single' if single else 'site'}.json"
        # history is appended once per run, by the multi-file rendering only
        config_path.write_text(
            json.dumps(allure_config(report_dir, output, single, history and not single)), encoding="utf-8"
        )
        command = [str(cli), "generate", str(results.resolve()), "--config", str(config_path.resolve())]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=report_dir
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"no HTML report: the Allure CLI failed ({exc})"
        finally:
            config_path.unlink(missing_ok=True)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"no HTML report: the Allure CLI exited {done.returncode}: {last[0]}"
    single_file = single_dir / "index.html"
    if not single_file.exists():
        return "no single-file HTML report: the Allure CLI wrote no index.html"
    shutil.copyfile(single_file, report_dir / "allure-report.html")
    shutil.rmtree(single_dir, ignore_errors=True)
    return None

"""junit.xml as a CI reads it: the run's facts in <properties>, and an <error> when it was not fully tested."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from conformance import __version__
from conformance.contract import spec_hash
from conformance.reports.summary import redactor_of
from conformance.run.engine import Outcome


def annotate_junit(path: Path, outcome: Outcome) -> None:
    """Put the verdict, seed, target, dialect and spec hash in junit.xml's <properties>, and record an
    <error> when the target could not be fully tested, so no JUnit consumer shows such a run green."""
    safe = redactor_of(outcome)
    tree = ET.parse(path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return
    suite = suites[0]
    properties = suite.find("properties")
    if properties is None:
        properties = ET.Element("properties")
        suite.insert(0, properties)
    facts = {
        "realtime-conformance.verdict": outcome.verdict,
        "realtime-conformance.seed": str(outcome.seed),
        "realtime-conformance.target": safe.url(outcome.url),  # never with credentials
        "realtime-conformance.target-kind": outcome.settings.kind,
        "realtime-conformance.profile": outcome.settings.profile,
        "realtime-conformance.dialect": outcome.settings.dialect,
        "realtime-conformance.spec-hash": spec_hash(),
        "realtime-conformance.version": __version__,
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", name=name, value=value)
    errors = suite.findall(".//error")
    if outcome.not_fully_tested is not None and not errors:
        case = ET.SubElement(suite, "testcase", classname="realtime-conformance", name="target fully tested", time="0")
        why = safe.line(outcome.not_fully_tested)
        error = ET.SubElement(case, "error", message=f"not fully tested: {why[:1000]}")
        error.text = why
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        suite.set("errors", str(int(suite.get("errors", "0")) + 1))
        if root is not suite and root.get("errors") is not None:
            root.set("errors", str(int(root.get("errors", "0")) + 1))
            root.set("tests", str(int(root.get("tests", "0")) + 1))
    tree.write(path, encoding="utf-8", xml_declaration=True)

"""`requirements` and `validate`: the offline commands, through `main()` as a user calls them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.transcript import Transcript
from tests.fixtures import transcript_cases


def write(tmp_path: Path, transcripts: list[Transcript]) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("".join(t.to_jsonl() for t in transcripts), encoding="utf-8")
    return path


def test_validate_conforming_transcripts_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conforming = [c.transcript for c in transcript_cases() if not c.violates]
    assert main(["validate", str(write(tmp_path, conforming))]) == 0
    assert "verdict: conformant" in capsys.readouterr().out


def test_validate_names_the_violated_requirement_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = next(c for c in transcript_cases() if c.violates == {"EX-REFLECT"})
    assert main(["validate", str(write(tmp_path, [case.transcript]))]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^failed +MUST +EX-REFLECT", out, re.M) and "verdict: non-conformant" in out


def test_validate_a_should_failure_passes_unless_strict(tmp_path: Path) -> None:
    case = next(c for c in transcript_cases() if c.violates == {"SC-SENT"})
    path = write(tmp_path, [case.transcript])
    assert main(["validate", str(path)]) == 0
    assert main(["validate", "--strict", str(path)]) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"direction": "sideways", "time": 0, "text": "{}"}\n', "'direction' must be"),
        ('{"direction": "server", "time": "soon", "text": "{}"}\n', "'time' must be"),
        ("", "no frames"),
        ('{"transcript": 1, "timeout_s": -1}\n{"direction": "server", "time": 0, "text": "{}"}\n', "timeout_s"),
    ],
)
def test_validate_a_bad_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_validate_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_requirements_table_lists_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements"]) == 0
    out = capsys.readouterr().out
    ids = [
        r["id"]
        for r in json.loads((Path(__file__).parent.parent / "conformance/spec/requirements.json").read_text())[
            "requirements"
        ]
        if "yandex" in r.get("dialects", ["yandex"])  # the default dialect's (a dialect may have its own)
    ]
    assert all(i in out for i in ids)


def heading_above(text: str, quote: str, heading: re.Pattern[str]) -> str:
    """The last heading line before the line where the (whitespace-normalized) quote starts."""
    lines = text.splitlines()
    at = re.sub(r"\s+", " ", text).find(re.sub(r"\s+", " ", quote))
    assert at >= 0, quote
    seen, index = 0, 0
    while index < len(lines) and seen + len(re.sub(r"\s+", " ", lines[index])) + 1 <= at:
        seen += len(re.sub(r"\s+", " ", lines[index])) + 1
        index += 1
    found = [m["name"] for line in lines[:index] if (m := heading.fullmatch(line.strip()))]
    return found[-1]


def test_each_requirement_cites_its_section_and_the_seed_its_url(capsys: pytest.CaptureFixture[str]) -> None:
    """The section is the heading the quote sits under (recomputed here); a URL only where the document
    itself names one (the seed page's header): spec-notes names none, and none is invented."""
    shared = Path("/work/shared")
    seed = next((shared / "seed").glob("000_*.txt"), None)
    if seed is None:
        pytest.skip("the shared source documents are not on this machine")
    texts = {"seed": seed.read_text(encoding="utf-8"), "spec-notes": (shared / "spec-notes.md").read_text("utf-8")}
    headings = {
        "seed": re.compile(r"(?P<name>HTTP request|Body parameters|RealtimeSession|Response)"),
        "spec-notes": re.compile(r"## (?P<name>.+)"),
    }
    seed_url = re.search(r"^POST (https://\S+)", texts["seed"], re.M)
    assert seed_url is not None
    assert main(["requirements", "--format", "json"]) == 0
    for r in json.loads(capsys.readouterr().out)["requirements"]:
        source = r["source"]
        document = source["document"]
        assert source["section"] == heading_above(texts[document], source["quote"], headings[document]), r["id"]
        assert source.get("url") == (seed_url[1] if document == "seed" else None)


@pytest.mark.parametrize(
    "frames",
    [
        [{"direction": "server", "time": 0.0, "close": 1000}],
        [{"direction": "server", "time": 0.0, "text": '{"type": "conversation.created", "event_id": "e1"}'}],
        # an update, but nothing answered it nor waited it out: the client closed at once
        [
            {"direction": "client", "time": 0.0, "text": '{"type": "session.update", "session": {"type": "realtime"}}'},
            {"direction": "client", "time": 0.001, "close": 1000},
        ],
    ],
    ids=["a close", "an unknown event", "an update nothing answered"],
)
def test_a_transcript_where_nothing_could_be_judged_is_not_testable_never_conformant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], frames: list[dict[str, object]]
) -> None:
    """As a run says it (exit 3): a file that judges no update shows nothing a verdict could rest on."""
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(frame) + "\n" for frame in frames), encoding="utf-8")
    assert main(["validate", str(path)]) == 3
    out = capsys.readouterr().out
    assert "verdict: error" in out and "not testable: no update" in out

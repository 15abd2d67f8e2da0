"""Load the language-neutral fixtures of `fixtures/` for the project's own tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.transcript import Transcript, frame_from_json

ROOT = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class EventCase:
    id: str
    event_type: str
    data: Any
    violates: frozenset[str]


@dataclass(frozen=True)
class TranscriptCase:
    id: str
    transcript: Transcript
    violates: frozenset[str]


@dataclass(frozen=True)
class UpdateCase:
    id: str
    text: str
    models: frozenset[str]
    classification: str
    created_type: Any = "realtime"
    dialect: str = "yandex"


def load(kind: str) -> list[tuple[Path, Any]]:
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in sorted((ROOT / kind).glob("*.json"))]


def event_cases() -> list[EventCase]:
    return [
        EventCase(f"{path.stem}: {test['description']}", group["event"], test["data"], frozenset(test["violates"]))
        for path, groups in load("events")
        for group in groups
        for test in group["tests"]
    ]


def to_transcript(case: dict[str, Any]) -> Transcript:
    frames = []
    for i, raw in enumerate(case["frames"]):
        raw = dict(raw)
        if "json" in raw:
            raw["text"] = json.dumps(raw.pop("json"))
        frames.append(frame_from_json(raw, f"frame {i}"))
    return Transcript(url="", timeout_s=case["timeout_s"], models=tuple(case.get("models", ())), frames=tuple(frames))


def transcript_cases() -> list[TranscriptCase]:
    return [
        TranscriptCase(f"{path.stem}: {case['description']}", to_transcript(case), frozenset(case["violates"]))
        for path, cases in load("transcripts")
        for case in cases
    ]


def update_cases() -> list[UpdateCase]:
    return [
        UpdateCase(
            f"{path.stem}: {case['description']}",
            case["text"] if "text" in case else json.dumps(case["data"]),
            frozenset(case.get("models", ())),
            case["classification"],
            case.get("created_type", "realtime"),
            case.get("dialect", "yandex"),
        )
        for path, cases in load("updates")
        for case in cases
    ]

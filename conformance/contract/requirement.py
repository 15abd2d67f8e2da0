"""The requirement catalogue's entries as values: a rule's ID, level, scope and where it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from conformance.contract.annotations import EventRequirements
from conformance.contract.files import DIALECTS

Level = Literal["MUST", "SHOULD"]
Scope = Literal["event", "exchange"]


#: The copy of each source document in conformance/spec/sources/.
SOURCE_FILES = {"seed": "seed-session-updated.txt", "spec-notes": "spec-notes.md"}


@dataclass(frozen=True)
class Source:
    """The sentence of a document a requirement comes from."""

    document: Literal["seed", "spec-notes"]
    quote: str
    section: str = ""  # the document's heading the quote is under
    url: str | None = None  # the upstream page, only where the document names it (the seed's header)

    @property
    def citation(self) -> str:
        """Where the rule comes from, in one line: the upstream URL where the document names one, and
        never an invented one (spec-notes names none: it is the project's own notes)."""
        file = SOURCE_FILES[self.document]
        if self.url:
            return f"{self.url} (in {file}, section {self.section!r})"
        return f"no upstream URL: project notes ({file}), section {self.section!r}"

    def to_json(self) -> dict[str, str]:
        doc = {"document": self.document, "quote": self.quote, "section": self.section, "citation": self.citation}
        return doc | ({"url": self.url} if self.url else {})


@dataclass(frozen=True)
class Requirement:
    """One checked rule of the contract, with a stable ID."""

    id: str
    level: Level
    scope: Scope
    event: str
    path: str
    title: str
    source: Source
    #: The events whose schema names it beside a keyword (`x-requirement`), and those keywords
    #: (empty: every keyword of its nodes): derived from the schemas when the contract is loaded.
    events: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    #: The dialects the requirement exists in (empty: every dialect).
    dialects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "scope": self.scope,
            "event": self.event,
            "path": self.path,
            "title": self.title,
            "source": self.source.to_json(),
        }


def requirement_of(entry: dict[str, Any], judged_by: dict[str, EventRequirements], dialect: str) -> Requirement:
    """The catalogue `entry` as the dialect states it, with the events and keywords that judge it."""
    events = tuple(event for event, found in judged_by.items() if entry["id"] in found.ids)
    keywords = sorted({kw for found in judged_by.values() for kw in found.keywords_of(entry["id"])})
    return Requirement(
        id=entry["id"],
        level=entry["level"],
        scope=entry["scope"],
        event=entry["event"],
        path=entry["path"],
        title=entry["title"],
        source=Source(**entry.get("sources", {}).get(dialect, entry["source"])),
        events=events,
        keywords=tuple(keywords),
        dialects=tuple(entry.get("dialects", ())),
    )


def in_dialect(entry: dict[str, Any], dialect: str) -> bool:
    """Whether a catalogue entry exists in the dialect (an entry naming no dialects is in every one)."""
    return dialect in entry.get("dialects", DIALECTS)

"""Transcripts: every frame of one connection, in order, as plain data (no I/O).

A transcript is what the checks judge and what `validate` re-judges offline, so it carries
everything a verdict depends on: the frames, their times, the timeout and the models the
user gave. It holds the raw frames, credentials included: judging needs them as they came;
writers pass them through a `Redactor` (conformance.redact) and `to_jsonl` writes the result.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, cast

from conformance.frozen import fast_init
from conformance.jsontext import MAX_DEPTH, LongInt, NotJSON, containers, dump_json, json_text, too_deep
from conformance.jsontext import parse_text as _parse
from conformance.readers import MiB, strict_loads
from conformance.redact import NO_SECRETS, REDACTED, Redactor, escape_surrogates

__all__ = [
    "CONTAINERS_PASSED",
    "MAX_CONNECTION_CONTAINERS",
    "TOO_DEEP",
    "Direction",
    "Frame",
    "LongInt",
    "NoFrames",
    "NotJSON",
    "Transcript",
    "TranscriptError",
    "containers",
    "dump_json",
    "frame_from_json",
    "iter_jsonl",
    "json_text",
    "parse_json",
    "parse_jsonl",
    "parsing_once",
    "too_deep",
]

Direction = Literal["client", "server"]
_T = TypeVar("_T")

FORMAT_VERSION = 1

#: The longest answer timeout a run takes (every duration option's bound: `cli.option`), and so the longest a
#: transcript's header may give: far above any sensible run, low enough that a typo is refused.
MAX_TIMEOUT_S = 3600.0

#: The most frames a run takes from a server on one connection (more cut it: wire.bounds.Limits).
MAX_SERVER_FRAMES = 10_000
#: The most frames one connection of a transcript file may hold: a run's server frames, and as many again of
#: ours (an update for each answer, at most) and to spare. A connection of tiny frames takes some twenty times
#: its size to judge: without this, one of 64 MiB took gigabytes.
MAX_CONNECTION_FRAMES = 3 * MAX_SERVER_FRAMES


#: Texts up to this long, and with fewer brackets than STEADY_BRACKETS, keep their parsed value (a
#: conforming event is a few KB, a few dozen objects and arrays). A hostile frame of `[{},{},…]` parses
#: into twenty times its size: such a value is parsed again where needed, never held beside its frame.
KEEP_PARSED_CHARS = 64 << 10
#: Texts with fewer brackets than this nest less deep than that, and hold few containers, whatever they hold.
STEADY_BRACKETS = 256
#: The most JSON objects and arrays (`containers`) the server frames of one connection may hold. A frame of
#: `[{},{},…]` parses into some twenty-five times its size, and a connection's frames are held parsed while it
#: is judged: one 60 MB frame took 3.3 GB, a run of 1 MiB ones 570 MB. A run cuts a connection that passes it
#: (exit 3, as at a byte bound; a conforming one receives a few hundred); a transcript that passes it is refused.
MAX_CONNECTION_CONTAINERS = 1 << 20
#: Why a connection is cut, or its transcript refused, at that bound.
CONTAINERS_PASSED = f"more than {MAX_CONNECTION_CONTAINERS} JSON objects and arrays received on one connection"
#: Why a connection is cut, or its transcript refused, for a frame nested deeper than the suite reads.
TOO_DEEP = f"a frame nested more than {MAX_DEPTH} levels deep (JSON this suite does not read)"


def steady(text: str | None) -> bool:
    """Whether what is derived from a frame of this text is the same wherever it is computed: a text of at
    most `KEEP_PARSED_CHARS` (a longer one's parse may be huge), nested too little to come near Python's
    recursion limit, which the standard library's parser and comparisons count from the caller's depth
    (the event loop's stack is not the judging thread's)."""
    return text is None or (len(text) <= KEEP_PARSED_CHARS and containers(text) < STEADY_BRACKETS)


#: Per thread: the parsed value of each text while `parsing_once` is in force (None: not in force).
_once = threading.local()


def parse_json(text: str) -> Any:
    """A JSON text as RFC 8259 defines it: orjson where it is exact, the standard library elsewhere.

    Stricter than json.loads: NaN, Infinity and -Infinity are refused, and so is a text holding a
    surrogate code point (it cannot have come from UTF-8: a text frame that was not valid UTF-8
    is recorded that way). Integers of any length are exact and escaped code points, even unpaired
    surrogates, are kept. Raises json.JSONDecodeError, or RecursionError when nested too deeply.
    Inside `parsing_once`, a text already parsed gives the same (shared, never to be changed) value.
    """
    memo: dict[str, Any] | None = getattr(_once, "memo", None)
    if memo is None or not steady(text):
        return _parse(text)
    if text not in memo:
        memo[text] = _parse(text)
    return memo[text]


@contextlib.contextmanager
def parsing_once(frames: Iterable[Frame] = ()) -> Iterator[None]:
    """Within it, this thread parses each text once (judging one connection reads each frame several
    times: the wire check, the pairing, the oracle); frames already parsed (`Frame.json`) are known.

    Bounded by what is judged in it (one connection), and forgotten at its end.
    """
    outer = getattr(_once, "memo", None)
    _once.memo = {} if outer is None else outer
    try:
        for frame in frames:
            remember(frame)
        yield
    finally:
        _once.memo = outer


def remember(frame: Frame) -> None:
    """Within `parsing_once`: the frame's kept parse (`Frame.json`) is its text's, known from here on. For a
    caller that reaches frames one at a time (judging ahead takes as many as its time allows, not all there are)."""
    memo: dict[str, Any] | None = getattr(_once, "memo", None)
    parsed = frame.__dict__.get("_json")
    if memo is not None and frame.text is not None and parsed is not None:
        memo[frame.text] = parsed


class TranscriptError(ValueError):
    """A transcript file that cannot be read; the message is one line for the user."""


class NoFrames(TranscriptError):
    """A transcript file that holds no frame (a run that ended before its first connection writes one)."""


@fast_init
@dataclass(frozen=True)
class Frame:
    """One WebSocket frame (text, binary or close) with its direction and time.

    `time` is seconds since the connection opened, from a monotonic clock: when the suite read the frame,
    or sent it. `earliest`, when given, is the earliest it may have arrived, or left (our process paused,
    or waited for a poll, meanwhile: conformance.wire.arrival). A binary frame keeps only its length: its
    bytes are not evidence anybody can read, and may hold anything.
    """

    direction: Direction
    time: float
    text: str | None = None
    binary_length: int | None = None
    close_code: int | None = None
    close_reason: str = ""
    earliest: float | None = None

    @property
    def earliest_time(self) -> float:
        """The earliest it may have arrived, or left (`earliest`, else `time`)."""
        return self.time if self.earliest is None else self.earliest

    def json(self, is_quick: bool = False) -> Any:
        """The text's JSON value (`parse_json`), parsed once and kept with the frame: the runner reads
        an answer's type, judging reads it again. Shared: never to be changed. Raises as `parse_json`.
        `is_quick`: the caller found `jsontext.quick(self.text)` already."""
        parsed = self.__dict__.get("_json")
        if parsed is None:
            if self.text is None:
                raise ValueError("not a text frame")
            parsed = _parse(self.text, is_quick)
            self.knowing(parsed)
        return parsed

    def knowing(self, parsed: Any) -> None:
        """Keep `parsed` as the text's JSON value (parsed here, or by a caller that had it already: the runner
        parsed a planned frame once to fill its placeholders); it must be `parse_json(self.text)`, exactly.
        A cache beside the fields, not part of the frame's value; only a `steady` text keeps it."""
        if self.text is not None and self.steady:
            self.__dict__["_json"] = parsed

    def derived(self, name: str, inputs: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        """`compute()`, a value derived from this frame and `inputs` alone (the contract, say), kept beside
        the fields under `name` and given again while the inputs are the same (identical or equal): judging
        ahead, while a connection waits, leaves its work here for judging the whole transcript, which
        then drops it (`forget`). Not part of the frame's value. Kept only for a `steady` frame."""
        kept: dict[str, tuple[tuple[object, ...], Any]] | None = self.__dict__.get("_derived")
        if kept is not None and name in kept and kept[name][0] == inputs:  # identity first, then ==, per item
            return cast(_T, kept[name][1])
        value = compute()
        if self.steady:
            if kept is None:
                kept = self.__dict__["_derived"] = {}
            kept[name] = (inputs, value)
        return value

    @property
    def steady(self) -> bool:
        """`steady(self.text)`, found once and kept beside the fields: the runner, judging ahead and `derived`
        each ask it of every frame, and each asking counted the text's brackets again."""
        known: bool | None = self.__dict__.get("_steady")
        if known is None:
            known = self.__dict__["_steady"] = steady(self.text)
        return known

    def forget(self) -> None:
        """Drop what `derived` kept: once the transcript is judged nothing needs it, and some of it refers
        back to the frame (a cycle only a full collection would free)."""
        self.__dict__.pop("_derived", None)

    def __getstate__(self) -> dict[str, Any]:
        """The fields alone: what is kept beside them (a parse, work done ahead) stays in this process."""
        return {key: value for key, value in self.__dict__.items() if not key.startswith("_")}

    @property
    def kind(self) -> Literal["text", "binary", "close"]:
        if self.text is not None:
            return "text"
        if self.binary_length is not None:
            return "binary"
        return "close"

    def to_json(self, redactor: Redactor = NO_SECRETS) -> dict[str, Any]:
        out: dict[str, Any] = {"direction": self.direction, "time": round(self.time, 6)}
        if self.earliest is not None:
            out["earliest"] = round(self.earliest, 6)
        if self.text is not None:
            out["text"] = redactor.mask(self.text)
        elif self.binary_length is not None:
            out["binary_length"] = self.binary_length
        else:
            out["close"] = self.close_code
            if self.close_reason:
                out["reason"] = redactor.mask(self.close_reason)
        return out

    def describe(self, redactor: Redactor = NO_SECRETS) -> str:
        """Short, human form of the frame for evidence in messages and reports (masked by `redactor`)."""
        if self.text is not None:
            return redactor.mask(self.text)
        if self.binary_length is not None:
            return f"<binary frame, {self.binary_length} bytes>"
        reason = redactor.mask(self.close_reason)
        return f"<close {self.close_code}{' ' + reason if reason else ''}>"


@dataclass(frozen=True)
class Transcript:
    """One connection's frames plus the settings a verdict depends on."""

    url: str
    timeout_s: float
    models: tuple[str, ...] = ()
    frames: tuple[Frame, ...] = ()
    label: str = ""

    def header(self, redactor: Redactor = NO_SECRETS) -> dict[str, Any]:
        head: dict[str, Any] = {
            "transcript": FORMAT_VERSION,
            "url": redactor.mask(self.url),
            "timeout_s": self.timeout_s,
            "models": list(self.models),
        }
        if self.label:
            head["label"] = self.label
        return head

    def to_jsonl(self, redactor: Redactor = NO_SECRETS) -> str:
        """The transcript as a file holds it: masked by `redactor`, lone surrogates as JSON escapes."""
        lines = [json.dumps(self.header(redactor), ensure_ascii=False)]
        lines += [json.dumps(f.to_json(redactor), ensure_ascii=False) for f in self.frames]
        return escape_surrogates("\n".join(lines) + "\n")


def _seconds(
    obj: dict[str, Any], name: str, where: str, positive: bool = False, high: float = math.inf, of_high: str = ""
) -> float:
    """A number of seconds a transcript gives: a JSON number (an integer of any length too) that is a finite
    float, at least 0 (above it, `positive`), at most `high` (`of_high`: that bound in words); anything else is a
    TranscriptError."""
    value = obj.get(name)
    seconds = -1.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an integer of hundreds of digits
            seconds = float(value)
    low_ok = seconds > 0 if positive else seconds >= 0
    if not (low_ok and math.isfinite(seconds) and seconds <= high):
        bound = "above 0" if positive else "at least 0"
        raise TranscriptError(
            f"{where}: {name!r} must be a number of seconds, {bound}"
            + (f", {of_high or f'at most {high:g}'}" if high < math.inf else "")
        )
    return seconds


def frame_from_json(obj: Any, where: str) -> Frame:
    if not isinstance(obj, dict):
        raise TranscriptError(f"{where}: a frame must be a JSON object")
    direction = obj.get("direction")
    if direction not in ("client", "server"):
        raise TranscriptError(f"{where}: 'direction' must be 'client' or 'server'")
    time = _seconds(obj, "time", where)
    earliest = (
        None
        if obj.get("earliest") is None
        else _seconds(obj, "earliest", where, high=time, of_high="no later than 'time'")
    )
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise TranscriptError(f"{where}: 'text' must be a string")
        return Frame(direction, time, text=obj["text"], earliest=earliest)
    if "binary_length" in obj:
        length = obj["binary_length"]
        if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length < 1 << 63:
            raise TranscriptError(f"{where}: 'binary_length' must be a frame's length in bytes (0 to 2**63 - 1)")
        return Frame(direction, time, binary_length=length, earliest=earliest)
    if "close" in obj:
        code, reason = obj["close"], obj.get("reason", "")
        if code is not None and (not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < 1 << 16):
            raise TranscriptError(f"{where}: 'close' must be a close code (0 to 65535) or null")
        if not isinstance(reason, str):
            raise TranscriptError(f"{where}: 'reason' must be a string")
        return Frame(direction, time, close_code=code, close_reason=reason, earliest=earliest)
    raise TranscriptError(f"{where}: a frame needs one of 'text', 'binary_length' or 'close'")


def _header(obj: dict[str, Any], where: str, default_timeout_s: float) -> Transcript:
    if obj["transcript"] != FORMAT_VERSION or isinstance(obj["transcript"], bool):
        raise TranscriptError(
            f"{where}: transcript format {str(obj['transcript'])[:20]}; this version reads format {FORMAT_VERSION}"
        )
    timeout = _seconds({"timeout_s": default_timeout_s} | obj, "timeout_s", where, positive=True, high=MAX_TIMEOUT_S)
    models = obj.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise TranscriptError(f"{where}: 'models' must be a list of strings")
    url, label = obj.get("url", ""), obj.get("label", "")
    if not isinstance(url, str) or not isinstance(label, str):
        raise TranscriptError(f"{where}: 'url' and 'label' must be strings")
    return Transcript(url, timeout, tuple(models), (), label)


def parse_jsonl(content: str, default_timeout_s: float = 5.0) -> list[Transcript]:
    """Read transcripts: one frame a line; a header line (`{"transcript": 1, …}`) starts a connection.

    Frames before any header form one connection with the default timeout, so a bare list of
    frames recorded elsewhere can be judged too.
    """
    # Only "\n" ends a line: json.dumps escapes it, but not U+2028 or U+0085, which splitlines() splits on.
    return list(iter_jsonl(content.split("\n"), default_timeout_s))


def iter_jsonl(
    lines: Iterable[str], default_timeout_s: float = 5.0, max_connection_chars: int | None = None
) -> Iterator[Transcript]:
    """`parse_jsonl` over lines, yielding each connection once its last frame is read (a file of any
    size is read in the memory of one connection, refused past `max_connection_chars` when given, and
    past `MAX_CONNECTION_FRAMES`)."""
    head: Transcript | None = None
    frames: list[Frame] = []
    size = held = 0  # the connection's characters, and its server frames' objects and arrays
    any_yielded = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            obj = strict_loads(line)
        except RecursionError:
            raise TranscriptError(f"{where}: not JSON (too deeply nested)") from None
        except ValueError as exc:  # json.JSONDecodeError, or a NaN, Infinity or overflowing number
            raise TranscriptError(f"{where}: not JSON ({getattr(exc, 'msg', exc)})") from None
        if isinstance(obj, dict) and "transcript" in obj:
            if head is not None and frames:
                any_yielded = True
                yield replace(head, frames=tuple(frames))
            head, frames, size, held = _header(obj, where, default_timeout_s), [], 0, 0
            continue
        if head is None:
            head = Transcript("", default_timeout_s)
        size += len(line)
        if max_connection_chars is not None and size > max_connection_chars:
            raise TranscriptError(f"{where}: one connection larger than {max_connection_chars // MiB} MiB, refused")
        if len(frames) >= MAX_CONNECTION_FRAMES:
            raise TranscriptError(
                f"{where}: one connection of more than {MAX_CONNECTION_FRAMES} frames, refused "
                f"(a run records at most {MAX_SERVER_FRAMES} from a server, and fewer of its own)"
            )
        frame = frame_from_json(obj, where)
        if frame.direction == "server" and frame.text is not None:
            counted = containers(frame.text)
            held += counted - frame.text.count(REDACTED)  # a mask of ours is no array
            if held > MAX_CONNECTION_CONTAINERS:
                raise TranscriptError(f"{where}: {CONTAINERS_PASSED}, refused (a run cuts the connection there)")
            if too_deep(frame.text, counted):
                raise TranscriptError(f"{where}: {TOO_DEEP}, refused (a run cuts the connection there)")
        if frames and frame.time < frames[-1].time:
            raise TranscriptError(
                f"{where}: 'time' goes back ({frame.time:g} s after {frames[-1].time:g} s): a connection's frames "
                "are listed in the order they were read or sent"
            )
        frames.append(frame)
    if head is not None and frames:
        any_yielded = True
        yield replace(head, frames=tuple(frames))
    if not any_yielded:
        raise NoFrames("no frames: expected one JSON object a line with direction, time and text")

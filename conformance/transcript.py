"""Transcripts: every frame of one connection, in order, as plain data (no I/O).

A transcript is what the checks judge and what `validate` re-judges offline, so it carries
everything a verdict depends on: the frames, their times, the timeout and the models the
user gave. It never holds a credential: the transport redacts before recording.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from conformance.readers import strict_loads

Direction = Literal["client", "server"]

FORMAT_VERSION = 1


_LONG_NUMBER = re.compile(r"\d{20}")  # orjson is exact up to 64-bit integers


def parse_json(text: str) -> Any:
    """json.loads, fast: orjson where it gives the very same value, the standard library elsewhere.

    orjson turns integers beyond 64 bits into floats and rejects NaN/Infinity; texts with long digit
    runs, and texts orjson refuses, go to json.loads, so the result (and any error) is json.loads'.
    """
    if not _LONG_NUMBER.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dump_json(value: Any) -> str:
    """json.dumps, fast: orjson unless the value holds what it cannot write (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


class TranscriptError(ValueError):
    """A transcript file that cannot be read; the message is one line for the user."""


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame (text, binary or close) with its direction and time.

    `time` is seconds since the connection opened, from a monotonic clock. A binary frame keeps
    only its length: its bytes are not evidence anybody can read, and may hold anything.
    """

    direction: Direction
    time: float
    text: str | None = None
    binary_length: int | None = None
    close_code: int | None = None
    close_reason: str = ""

    @property
    def kind(self) -> Literal["text", "binary", "close"]:
        if self.text is not None:
            return "text"
        if self.binary_length is not None:
            return "binary"
        return "close"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"direction": self.direction, "time": round(self.time, 6)}
        if self.text is not None:
            out["text"] = self.text
        elif self.binary_length is not None:
            out["binary_length"] = self.binary_length
        else:
            out["close"] = self.close_code
            if self.close_reason:
                out["reason"] = self.close_reason
        return out

    def describe(self) -> str:
        """Short, human form of the frame for evidence in messages and reports."""
        if self.text is not None:
            return self.text
        if self.binary_length is not None:
            return f"<binary frame, {self.binary_length} bytes>"
        return f"<close {self.close_code}{' ' + self.close_reason if self.close_reason else ''}>"


@dataclass(frozen=True)
class Transcript:
    """One connection's frames plus the settings a verdict depends on."""

    url: str
    timeout_s: float
    models: tuple[str, ...] = ()
    frames: tuple[Frame, ...] = ()
    label: str = ""

    def header(self) -> dict[str, Any]:
        head: dict[str, Any] = {
            "transcript": FORMAT_VERSION,
            "url": self.url,
            "timeout_s": self.timeout_s,
            "models": list(self.models),
        }
        if self.label:
            head["label"] = self.label
        return head

    def to_jsonl(self) -> str:
        lines = [json.dumps(self.header(), ensure_ascii=False)]
        lines += [json.dumps(f.to_json(), ensure_ascii=False) for f in self.frames]
        return "\n".join(lines) + "\n"


def frame_from_json(obj: Any, where: str) -> Frame:
    if not isinstance(obj, dict):
        raise TranscriptError(f"{where}: a frame must be a JSON object")
    direction = obj.get("direction")
    if direction not in ("client", "server"):
        raise TranscriptError(f"{where}: 'direction' must be 'client' or 'server'")
    time = obj.get("time")
    if not isinstance(time, (int, float)) or isinstance(time, bool):
        raise TranscriptError(f"{where}: 'time' must be a number of seconds")
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise TranscriptError(f"{where}: 'text' must be a string")
        return Frame(direction, float(time), text=obj["text"])
    if "binary_length" in obj:
        if not isinstance(obj["binary_length"], int):
            raise TranscriptError(f"{where}: 'binary_length' must be an integer")
        return Frame(direction, float(time), binary_length=obj["binary_length"])
    if "close" in obj:
        code = obj["close"]
        if code is not None and not isinstance(code, int):
            raise TranscriptError(f"{where}: 'close' must be an integer or null")
        return Frame(direction, float(time), close_code=code, close_reason=str(obj.get("reason", "")))
    raise TranscriptError(f"{where}: a frame needs one of 'text', 'binary_length' or 'close'")


def _header(obj: dict[str, Any], where: str, default_timeout_s: float) -> Transcript:
    timeout = obj.get("timeout_s", default_timeout_s)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise TranscriptError(f"{where}: 'timeout_s' must be a positive number")
    models = obj.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise TranscriptError(f"{where}: 'models' must be a list of strings")
    return Transcript(str(obj.get("url", "")), float(timeout), tuple(models), (), str(obj.get("label", "")))


def parse_jsonl(content: str, default_timeout_s: float = 5.0) -> list[Transcript]:
    """Read transcripts: one frame a line; a header line (`{"transcript": 1, …}`) starts a connection.

    Frames before any header form one connection with the default timeout, so a bare list of
    frames recorded elsewhere can be judged too.
    """
    found: list[tuple[Transcript, list[Frame]]] = []
    # Only "\n" ends a line: json.dumps escapes it, but not U+2028 or U+0085, which splitlines() splits on.
    for number, line in enumerate(content.split("\n"), start=1):
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
            found.append((_header(obj, where, default_timeout_s), []))
            continue
        if not found:
            found.append((Transcript("", default_timeout_s), []))
        found[-1][1].append(frame_from_json(obj, where))
    transcripts = [replace(head, frames=tuple(frames)) for head, frames in found if frames]
    if not transcripts:
        raise TranscriptError("no frames: expected one JSON object a line with direction, time and text")
    return transcripts

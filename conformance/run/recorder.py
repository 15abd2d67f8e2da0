"""Each connection judged as it completes and its transcript written at once; transcripts read back one by one.

So a run of any length, and `validate` or `verify` of a transcript file of any length, holds one
connection at a time plus a `Tally` bounded by the catalogue. Transcripts are written masked (the
run's `Redactor`) as they arrive; judging sees the raw frames.
"""

from __future__ import annotations

import heapq
import json
import queue
import re
import threading
import traceback
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from conformance.checks import Judgement, JudgingStopped, judge
from conformance.contract import Contract
from conformance.readers import MiB, open_input
from conformance.redact import NO_SECRETS, Redactor
from conformance.transcript import Transcript, TranscriptError, iter_jsonl, parsing_once
from conformance.verdict.tally import Tally
from conformance.wire.bounds import Limits

ALL = "all.jsonl"


def spool_name(all_name: str = ALL) -> str:
    """Where connections are spooled as they end, beside `all_name`, until `close` writes it in plan order."""
    return f".{all_name}.spool"


#: How long a stopped `close` waits, once all is written, for the judging thread to leave the frame in hand.
LEAVE_S = 10.0
#: The most of one connection read back into memory at once: what a run records of one within its default
#: bound (16 MiB received), each byte written as up to six (a control character as `\u0001`), and ours beside.
CONNECTION_BYTES = 6 * Limits.max_connection_bytes + 4 * MiB


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "connection"


def connection_file(index: int, label: str) -> str:
    """The file of plan number `index` (from 0) when one of its exchanges failed."""
    return f"{index + 1:03d}-{slug(label)}.jsonl"


class Recorder:
    """Takes each finished connection: judges it into the tally, appends it to `all_name`, and writes a
    failing one to a file of its own too. `order` gives each plan label's index in the run.

    Connections end in any order; all.jsonl holds them in plan order (a seed gives one file): each
    is spooled to disk as it ends, and `close()` writes the spool out in plan order, one connection
    at a time. The work is done on a thread of its own: on the event loop, judging and writing a long
    connection would hold up the connections still exchanging, whose frames would then be
    stamped late (a false "answered after the timeout"). `backlog` lets the run wait for it.
    """

    def __init__(
        self,
        directory: Path,
        contract: Contract,
        order: dict[str, int],
        safe: Redactor = NO_SECRETS,
        all_name: str = ALL,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.tally = Tally()
        self._contract = contract
        self._order = order
        self._shard, self._shards = shard
        self._safe = safe
        self._path = directory / all_name
        self._spool_path = directory / spool_name(all_name)
        self._spool: IO[bytes] | None = self._spool_path.open("w+b")
        # where each connection's text is in the spool, by plan index: offset (-1: none) and length,
        # 16 bytes a connection, so close() writes them out in plan order without sorting a list of them
        self._offsets, self._lengths = array("q"), array("q")
        self._queue: queue.SimpleQueue[tuple[int, Transcript] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # the spool and the tally: the thread's, or `close`'s after a signal
        self._taken = self._handled = 0  # connections taken, and spooled (or failed to be)
        self._in_judging = False  # the thread is judging one (outside the lock)
        self._backlog = 0
        self.error: str | None = None  # the traceback of a bug of ours in judging or writing
        self._judging = True  # False once a signal stops the run: the rest is written, not judged
        self.unjudged = 0  # connections written but, so, not judged
        self._thread = threading.Thread(target=self._work, name="rc-recorder", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Characters of frames taken but not yet judged and written."""
        return self._backlog

    def take(self, transcript: Transcript, number: int | None = None) -> None:
        """A finished connection: plan `number` of its shard (shard k of n runs plans k, k + n, k + 2n…),
        or, without one, the index `order` gives its label."""
        if number is not None:
            index = number * self._shards + self._shard
        else:
            index = self._order.get(transcript.label, len(self._order))
        with self._lock:
            self._backlog += _size(transcript)
        self._taken += 1
        self._queue.put((index, transcript))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            index, transcript = item
            try:
                self._record(index, transcript)
            except Exception:  # a bug of ours: kept for the run to report (exit 4) with what was judged
                self.error = self.error or traceback.format_exc()
            finally:
                with self._lock:
                    self._backlog -= _size(transcript)

    def _record(self, index: int, transcript: Transcript) -> None:
        """Written first, then judged: after a bug of ours in judging, the connections are still all written
        (what ran is reported, and the bug can be reproduced from them), only no longer judged."""
        with self._writing:
            try:
                text = transcript.to_jsonl(self._safe)
                spooled = self._spooled(index, text)
            finally:
                self._handled += 1  # spooled, or never to be (a bug of ours): `close` waits no longer for it
            if self.error is not None or not self._judging:
                self.unjudged += self.error is None
                return
            self._in_judging = True
        judgement: Judgement | None = None
        try:
            judgement = judged(transcript, self._contract, stopped=lambda: not self._judging)
        except JudgingStopped:
            pass  # `stop` counted it
        finally:
            with self._writing:
                self._in_judging = False
                if judgement is not None and self._judging:  # else stopped meanwhile: dropped, as `stop` counted
                    self.tally.add(index, judgement)  # its plan number, whatever place it takes in all.jsonl
                    if judgement.violations:
                        (self.directory / connection_file(spooled, transcript.label)).write_text(text, "utf-8")

    def _spooled(self, index: int, text: str) -> int:
        """Write a connection to the spool as plan `index`; the place it takes in all.jsonl."""
        if self._spool is None:
            return index
        data = text.encode("utf-8")  # lone surrogates are escaped by to_jsonl
        if index >= len(self._offsets):
            missing = index + 1 - len(self._offsets)
            self._offsets.extend(array("q", [-1]) * missing)
            self._lengths.extend(array("q", [0]) * missing)
        if self._offsets[index] >= 0:  # a label outside the run's order (none of ours): after the rest
            self._offsets.append(-1)
            self._lengths.append(0)
            index = len(self._offsets) - 1
        self._offsets[index], self._lengths[index] = self._spool.tell(), len(data)
        self._spool.write(data)
        return index

    def stop(self) -> None:
        """Judge no more (a signal, the time budget spent): what is left is written, not judged (`unjudged`),
        and the connection being judged is dropped at its next frame."""
        with self._writing:
            if self._judging:
                self._judging = False
                self.unjudged += self._in_judging

    def close(self, stopped: Callable[[], bool] = lambda: False) -> str | None:
        """Finish judging and writing what was taken; the traceback of a bug of ours, if one stopped it.

        Once `stopped()` (a signal, the time budget spent), judging stops (`stop`): a hostile target's
        connection can take seconds to judge, and a signal is answered at once.
        """
        if self._thread.is_alive():
            self._queue.put(None)
            while self._thread.is_alive():
                self._thread.join(0.05)
                if stopped():
                    self.stop()
                    break
        for _ in range(1 << 30):  # after a signal: until the thread has spooled what it took (a moment)
            with self._writing:
                self._drain()
                if self._handled == self._taken or not self._thread.is_alive():
                    if self._thread.is_alive():
                        self._queue.put(None)  # it ends once its judging is done (and dropped)
                    self._write_out()
                    break
            self._thread.join(0.01)
        # a process that exits while the thread is inside jsonschema-rs crashes (CPython ends daemon threads
        # in native code): it stops at its next frame, a frame's explaining takes about a second at most
        self._thread.join(LEAVE_S)
        return self.error

    def _drain(self) -> None:
        """Spool, unjudged, what the thread has not taken yet (its end marker too: `close` puts it back)."""
        for _ in range(self._taken + 1):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                try:
                    self._spooled(item[0], item[1].to_jsonl(self._safe))
                    self.unjudged += self.error is None
                except Exception:  # a bug of ours: the rest is still written
                    self.error = self.error or traceback.format_exc()
                finally:
                    self._handled += 1

    def _write_out(self) -> None:
        """all.jsonl from the spool, in plan order."""
        if self._spool is not None:
            with self._path.open("wb") as out:
                for offset, length in zip(self._offsets, self._lengths, strict=True):
                    if offset >= 0:
                        self._spool.seek(offset)
                        out.write(self._spool.read(length))
            self._spool.close()
            self._spool = None
            self._spool_path.unlink(missing_ok=True)


def merge_in_order(sources: list[Path], order: dict[str, int], target: Path) -> None:
    """Write the connections of several transcript files (each in plan order) into `target`, in the
    run's plan order (`order`: label -> index), holding one connection per file at a time."""
    with target.open("wb") as out:
        for _, _, chunk in heapq.merge(*(_connections(path, order, k) for k, path in enumerate(sources))):
            out.write(chunk)


def _connections(path: Path, order: dict[str, int], source: int) -> Iterator[tuple[int, int, bytes]]:
    """(plan index, source, text) of each connection of a file we wrote (a header line starts one)."""
    chunk: list[bytes] = []
    index = -1
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"transcript": ') and chunk:
                yield index, source, b"".join(chunk)
                chunk = []
            if line.startswith(b'{"transcript": '):
                label = json.loads(line).get("label", "")
                index = order.get(label, len(order)) if isinstance(label, str) else len(order)
            chunk.append(line)
    if chunk:
        yield index, source, b"".join(chunk)


def _size(transcript: Transcript) -> int:
    return sum(len(f.text) if f.text is not None else 16 for f in transcript.frames)


def read_transcripts(path: Path, default_timeout_s: float = 5.0) -> Iterator[Transcript]:
    """The transcripts of a JSONL file one at a time, as `parse_jsonl` reads them, never the whole file.

    Raises `TranscriptError` (a line that is not a frame, not UTF-8, or a connection over
    `CONNECTION_BYTES`) and `OSError`.
    """
    with open_input(path) as handle:
        yield from iter_jsonl(_lines(handle), default_timeout_s, CONNECTION_BYTES)


def _lines(handle: IO[bytes]) -> Iterator[str]:
    for number in range(1, 1 << 62):
        raw = handle.readline(CONNECTION_BYTES + 1)
        if not raw:
            return
        if len(raw) > CONNECTION_BYTES:
            raise TranscriptError(f"line {number}: larger than {CONNECTION_BYTES // MiB} MiB, refused")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TranscriptError(f"line {number}: not UTF-8 text (bad byte at offset {exc.start})") from None


def judge_file(path: Path, contract: Contract, default_timeout_s: float = 5.0) -> Tally:
    """Judge every connection of a transcript file, one at a time."""
    tally = Tally()
    for index, transcript in enumerate(read_transcripts(path, default_timeout_s)):
        tally.add(index, judged(transcript, contract))
    return tally


def judged(transcript: Transcript, contract: Contract, stopped: Callable[[], bool] = lambda: False) -> Judgement:
    """`checks.judge`, each frame's text parsed once (the runner's parse of an answer included)."""
    with parsing_once(transcript.frames):
        return judge(transcript, contract, stopped=stopped)

"""The drawn corpus: generated plans drawn once per seed, kept on disk, drawn ahead in a forked child.

This is performance machinery, kept apart from the strategies (`generate`, which does no I/O):
the disk cache, the fork, and the one use of a Hypothesis internal, which makes a seed draw the
same exchanges wherever it runs (tests/test_corpus.py fails loudly when that internal changes).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import hashlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.internal.conjecture import providers  # private: see _no_local_constants

from conformance import __version__, generate
from conformance import progress as shown
from conformance.contract import DEFAULT_DIALECT, Contract, load_contract, spec_hash
from conformance.generate import coverage_plans, plans, probe_plans
from conformance.generate.plan import Plan


def corpus_dir() -> Path | None:
    """Where drawn corpora are kept ($REALTIME_CONFORMANCE_CACHE, else ~/.cache/…; "off" disables)."""
    configured = os.environ.get("REALTIME_CONFORMANCE_CACHE", "")
    if configured.lower() in ("off", "0", "no"):
        return None
    return Path(configured) if configured else Path.home() / ".cache" / "realtime-conformance" / "corpus"


#: The contract's code the draws read besides the spec's data (which the spec hash covers).
DRAWN_WITH = tuple(
    Path(generate.__file__).parent.parent / "contract" / name for name in ("__init__.py", "oracle.py", "specgen.py")
)

#: What a corpus is drawn for besides seed and size: the run's dialect and `--model-name`s (its contract).
Spoken = tuple[str, tuple[str, ...]]


def contract_for(dialect: str, model_names: tuple[str, ...]) -> Contract:
    return load_contract(model_names or None, dialect)


def corpus_key(seed_value: int, count: int, dialect: str = DEFAULT_DIALECT, model_names: tuple[str, ...] = ()) -> str:
    """Everything the draws depend on: the seed, the size, the contract (the spec's files, which the spec
    hash covers, and which of them speak: the dialect and model names), the generators' code (every module
    of this package, and the contract code the draws read: a change to a strategy must never replay an old
    corpus) and the libraries' versions."""
    versions = [metadata.version(name) for name in ("hypothesis", "schemathesis")]
    sources = [*sorted(Path(generate.__file__).parent.glob("*.py")), *DRAWN_WITH]
    generator = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    parts = [__version__, spec_hash(), dialect, *model_names, generator, *versions, str(seed_value), str(count)]
    parts.insert(3, str(len(model_names)))  # ("a", "b") and ("a\0b",) never meet
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


_drawing: dict[tuple[int, int, str, tuple[str, ...]], int] = {}  # what a child draws -> its pid


def draw_ahead(seed_value: int, count: int, dialect: str = DEFAULT_DIALECT, model_names: tuple[str, ...] = ()) -> None:
    """Start drawing a corpus in a forked child, so the draws overlap the run's start-up on another core.

    Only for a whole, single-threaded CLI process (a fork must not copy other threads' locks); the
    child writes the corpus to the cache and `generated_plans` waits for it. Without a cache, a no-op.
    The child never outlives the run: it is killed if the parent is interrupted or exits first.
    """
    folder = corpus_dir()
    key = corpus_key(seed_value, count, dialect, model_names)
    if folder is None or (folder / f"{key}.jsonl").is_file() or not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child: draw, store, leave without running the parent's cleanup
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent's handlers are not the child's
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()
            generated_plans(seed_value, count, dialect, model_names)
        except BaseException:
            code = 1
        os._exit(code)
    if not _drawing:
        atexit.register(_stop_drawing)
    _drawing[(seed_value, count, dialect, model_names)] = pid


def _die_with_parent() -> None:
    """Linux: the kernel kills this child when its parent dies (even by SIGKILL); elsewhere atexit does."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent was already gone
            os._exit(1)


def _stop_drawing() -> None:
    for key in list(_drawing):
        _reap(_drawing.pop(key), kill=True)


def _reap(pid: int, kill: bool) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        if kill:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@dataclass(frozen=True)
class Plans:
    """Plans read as they are iterated, never all held: a run of 160,000 exchanges plans in flat memory.

    `parts` are iterated one after the other (a tuple of plans, a `Corpus` read from its file);
    `every(k, n)` is shard k of n: plans k, k + n, k + 2n… Iterating twice gives the same plans.
    """

    parts: tuple[Sequence[Plan] | Corpus, ...]
    start: int = 0
    step: int = 1

    def __iter__(self) -> Iterator[Plan]:
        return itertools.islice(itertools.chain.from_iterable(self.parts), self.start, None, self.step)

    def __len__(self) -> int:
        return len(range(self.start, sum(len(part) for part in self.parts), self.step))

    def every(self, start: int, step: int) -> Plans:
        """Plans start, start + step, start + 2·step… of these."""
        return Plans(self.parts, self.start + start * self.step, self.step * step)


@dataclass(frozen=True)
class Corpus:
    """A seed's generated plans, in a JSONL file read line by line each time they are iterated.

    The file: a header line (counts), one line per coverage case, one line per drawn connection;
    the probes, which are not drawn, are built between the two.
    """

    seed: int
    path: Path
    coverage: int
    drawn: int
    dialect: str = DEFAULT_DIALECT
    model_names: tuple[str, ...] = ()

    @property
    def contract(self) -> Contract:
        return contract_for(self.dialect, self.model_names)

    def __len__(self) -> int:
        return self.coverage + len(probe_plans(self.contract)) + self.drawn

    def __iter__(self) -> Iterator[Plan]:
        with self.path.open(encoding="utf-8") as lines:
            next(lines)  # the header
            for i, line in zip(range(self.coverage), lines, strict=False):
                yield Plan(f"coverage #{i + 1}", tuple(json.loads(line)))
            yield from probe_plans(self.contract)
            for i, line in zip(range(self.drawn), lines, strict=False):
                updates = tuple(json.loads(line))
                yield Plan(f"generated #{i + 1} (seed {self.seed})", updates, generate.waits(len(updates)))


def _opened(path: Path, seed_value: int, spoken: Spoken) -> Corpus | None:
    """The corpus in `path` if it is whole (its header's counts match its lines), else None (drawn again)."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, StopIteration):
        with path.open(encoding="utf-8") as lines:
            header = json.loads(next(lines))
            coverage, drawn = header["coverage"], header["drawn"]
            body = sum(1 for _ in lines)
        if isinstance(coverage, int) and isinstance(drawn, int) and body == coverage + drawn:
            return Corpus(seed_value, path, coverage, drawn, *spoken)
    return None


_scratch: list[Path] = []  # a process's own corpus folder when the cache is off, removed at exit


def _folder() -> Path:
    folder = corpus_dir()
    if folder is not None:
        return folder
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="rc-corpus-")))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]


@functools.lru_cache(maxsize=8)
def generated_plans(
    seed_value: int, count: int, dialect: str = DEFAULT_DIALECT, model_names: tuple[str, ...] = ()
) -> Corpus:
    """Schemathesis' coverage cases, our single-fault probes and value updates, then `count` connections
    drawn from `seed_value` (same seed, same plans), all from the contract of `dialect` and `model_names`.

    Drawn once, then replayed from disk: kept keyed by seed, size, spec hash and versions (so a
    pinned seed in CI draws only once), or in a folder of the process's own when the cache is off.
    Each draw is written to the file as it is drawn, and the plans are read back as they are run:
    memory does not grow with the corpus. Only the small handle is kept for the process.
    """
    child = _drawing.pop((seed_value, count, dialect, model_names), None)
    if child is not None:
        try:
            _reap(child, kill=False)  # a failed child only means drawing here, below
        except BaseException:  # Ctrl-C while waiting: the child must not draw on at 100% CPU
            _reap(child, kill=True)
            raise
    path = _folder() / f"{corpus_key(seed_value, count, dialect, model_names)}.jsonl"
    spoken = (dialect, model_names)
    if path.is_file() and (corpus := _opened(path, seed_value, spoken)) is not None:
        return corpus
    contract = contract_for(dialect, model_names)
    path.parent.mkdir(parents=True, exist_ok=True)
    drawn_path = path.with_suffix(f".{os.getpid()}.drawn")
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        drawn = 0
        with drawn_path.open("w", encoding="utf-8") as out:

            def on_drawn(updates: tuple[str, ...]) -> None:
                nonlocal drawn
                out.write(json.dumps(list(updates)) + "\n")  # streamed: the draws are never all held
                drawn += 1
                shown.step("drawing", drawn)

            shown.begin("drawing", count)
            run_hypothesis(seed_value, count, on_drawn, contract=contract)
        coverage = [json.dumps(list(p.updates)) for p in coverage_plans(contract)]
        with temporary.open("w", encoding="utf-8") as out, drawn_path.open(encoding="utf-8") as draws:
            out.write(json.dumps({"coverage": len(coverage), "drawn": drawn}) + "\n")
            out.writelines(line + "\n" for line in coverage)
            shutil.copyfileobj(draws, out)
        temporary.replace(path)
    finally:
        for leftover in (drawn_path, temporary):
            leftover.unlink(missing_ok=True)
    return Corpus(seed_value, path, len(coverage), drawn, *spoken)


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Make draws depend on the seed alone.

    Hypothesis mixes in literals from whichever "local" modules happen to be imported (test files,
    an editable install), so the same seed would draw different exchanges under pytest, under
    xdist workers, or from an installed package. During our draws that pool is empty. A Hypothesis
    without these internals only costs that reproducibility, never a verdict, so the run goes on;
    tests/test_corpus.py is what fails when they change.
    """
    original = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if original is None or cache is None:  # a Hypothesis without the feature: nothing to neutralize
        yield
        return
    empty = type(original())()  # an empty Constants
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE = type(cache)(1024)  # constants chosen under other pools are not reused
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE = cache


def run_hypothesis(
    seed_value: int,
    count: int,
    body: Callable[[tuple[str, ...]], None],
    shrink: bool = False,
    contract: Contract | None = None,
) -> None:
    """Draw plans with Hypothesis from a seed, from `contract` (the default dialect's when None); the
    body sees each (and, with `shrink`, its shrinks)."""

    @given(plans(contract=contract))
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @seed(seed_value)
    def draw(updates: tuple[str, ...]) -> None:
        body(updates)

    with _no_local_constants():
        draw()

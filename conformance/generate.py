"""Exchanges to send: the scripted ones (smoke) and generated ones (Hypothesis + schemathesis).

Generators only propose; every update is classified by the oracle when it is judged, so a
generator that makes a mistake costs coverage, never a false verdict. Nothing here does I/O.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase, given, seed, settings

from conformance import __version__
from conformance.contract import SCHEMA_DIR, SPEC_DIR, read_json, spec_hash
from conformance.runner import MODEL_PLACEHOLDER, Plan

SCRIPTED = Path(str(resources.files("conformance") / "suite" / "scripted.json"))


def as_text(update: object) -> str:
    return update if isinstance(update, str) else json.dumps(update)


def scripted_plans() -> list[Plan]:
    """The fixed connections of the smoke profile (conformance/suite/scripted.json)."""
    data = json.loads(SCRIPTED.read_text(encoding="utf-8"))
    return [Plan(c["label"], tuple(as_text(u) for u in c["updates"])) for c in data["connections"]]


# ------------------------------------------------------------------------- generated exchanges


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for the small JSON Schema subset that `known-values.json` uses.

    Only values the schema accepts are drawn; a test checks every draw against the schema.
    """
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(max_size=40)
    if kind == "array":
        return st.lists(from_schema(schema["items"]), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in properties.items() if k in required},
            optional={k: from_schema(v) for k, v in properties.items() if k not in required},
        )
    raise ValueError(f"known-values.json uses a schema this generator does not know: {schema}")


KNOWN = read_json(SPEC_DIR / "known-values.json")
PATCH_FIELDS: dict[str, Any] = read_json(SCHEMA_DIR / "realtime-session.json")["properties"]
WRONG_TYPED = {
    "string": st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
    "array": st.one_of(
        st.text(max_size=5), st.integers(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
    ),
    "object": st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2)),
}


@functools.cache
def valid_session() -> st.SearchStrategy[dict[str, Any]]:
    """A patch whose every field has a value the documents say is accepted; `model` is the placeholder."""
    fields = {k: from_schema(v) for k, v in KNOWN["properties"].items() if k != "type"}
    fields["model"] = st.just(MODEL_PLACEHOLDER)
    return st.fixed_dictionaries({"type": from_schema(KNOWN["properties"]["type"])}, optional=fields)


@st.composite
def broken_session(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patch with one documented field given a value of the wrong JSON type."""
    session = draw(valid_session())
    field = draw(st.sampled_from(sorted(k for k in PATCH_FIELDS if k != "type")))
    allowed = PATCH_FIELDS[field]["type"]
    kind = allowed if isinstance(allowed, str) else next(t for t in allowed if t != "null")
    session[field] = draw(WRONG_TYPED[kind].filter(lambda v: not isinstance(v, str) or kind != "string"))
    return session


def event(session: Any, event_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "session.update"}
    if event_id is not None:
        out["event_id"] = event_id
    out["session"] = session
    return out


@functools.cache
def _session_update_operation() -> Any:
    import schemathesis

    schema = schemathesis.openapi.from_dict(read_json(SPEC_DIR / "openapi.json"))
    return schema["/v1/realtime/client-events/session.update"]["POST"]


def _body_text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else json.dumps(body)


@functools.cache
def _schemathesis_bodies(negative: bool) -> st.SearchStrategy[str]:
    from schemathesis import GenerationMode

    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    strategy: st.SearchStrategy[Any] = _session_update_operation().as_strategy(generation_mode=mode)
    return strategy.map(lambda case: _body_text(case.body))


COVERAGE_PER_CONNECTION = 5


def coverage_plans() -> list[Plan]:
    """Schemathesis' coverage phase: its deterministic boundary cases (positive and negative) for
    session.update, five to a connection, each connection opened by a valid update."""
    from schemathesis import GenerationMode
    from schemathesis.core import NOT_SET

    operation = _session_update_operation()
    schema = operation.schema
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    )
    bodies = list(dict.fromkeys(_body_text(case.body) for case in cases if case.body is not NOT_SET))
    opening = json.dumps({"type": "session.update", "event_id": "cov-0", "session": {"type": "realtime"}})
    return [
        Plan(f"coverage #{i // COVERAGE_PER_CONNECTION + 1}", (opening, *bodies[i : i + COVERAGE_PER_CONNECTION]))
        for i in range(0, len(bodies), COVERAGE_PER_CONNECTION)
    ]


@functools.cache
def update_texts() -> st.SearchStrategy[Callable[[str | None], str]]:
    """One update, valid (most), invalid or undetermined, from both engines, built once.

    It draws a function of the event_id, so one strategy serves every position in a plan.
    """

    def ours(session: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Callable[[str | None], str]]:
        return session.map(lambda s: lambda event_id: json.dumps(event(s, event_id)))

    def theirs(negative: bool) -> st.SearchStrategy[Callable[[str | None], str]]:
        return _schemathesis_bodies(negative).map(lambda text: lambda event_id: text)

    unknown_field = st.builds(
        lambda s, k, v: {**s, k: v},
        valid_session(),
        st.sampled_from(["speed", "tracing", "max_output_tokens", "prompt"]),
        st.one_of(st.integers(0, 9), st.text(max_size=5)),
    )
    untyped = valid_session().map(lambda s: {k: v for k, v in s.items() if k != "type"})
    valid = ours(valid_session())
    # Weighted by repetition: Schemathesis' draws cost several times ours, so they are one in seven.
    broken, unknown, missing_type = ours(broken_session()), ours(unknown_field), ours(untyped)
    return st.one_of(
        *[valid] * 6,
        *[broken] * 2,
        *[unknown] * 2,
        *[missing_type] * 2,
        theirs(negative=True),
        theirs(negative=False),
    )


@st.composite
def plans(draw: st.DrawFn, max_updates: int = 6) -> tuple[str, ...]:
    """One connection's updates: a valid one first, then a mix, so that errors are followed by updates."""
    size = draw(st.integers(2, max_updates))
    first = json.dumps(event(draw(valid_session()), "gen-1"))
    rest = []
    for i in range(2, size + 1):
        make = draw(update_texts())
        rest.append(make(f"gen-{i}" if i % 2 or draw(st.booleans()) else None))
    return (first, *rest)


def corpus_dir() -> Path | None:
    """Where drawn corpora are kept ($REALTIME_CONFORMANCE_CACHE, else ~/.cache/…; "off" disables)."""
    configured = os.environ.get("REALTIME_CONFORMANCE_CACHE", "")
    if configured.lower() in ("off", "0", "no"):
        return None
    return Path(configured) if configured else Path.home() / ".cache" / "realtime-conformance" / "corpus"


def corpus_key(seed_value: int, count: int) -> str:
    """Everything the draws depend on: the seed, the size, the contract and the generators' versions."""
    versions = [metadata.version(name) for name in ("hypothesis", "schemathesis")]
    parts = [__version__, spec_hash(), *versions, str(seed_value), str(count)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


_drawing: dict[tuple[int, int], int] = {}  # (seed, count) -> pid of a child drawing that corpus


def draw_ahead(seed_value: int, count: int) -> None:
    """Start drawing a corpus in a forked child, so the draws overlap the run's start-up on another core.

    Only for a whole, single-threaded CLI process (a fork must not copy other threads' locks); the
    child writes the corpus to the cache and `generated_plans` waits for it. Without a cache, a no-op.
    The child never outlives the run: it is killed if the parent is interrupted or exits first.
    """
    folder = corpus_dir()
    if folder is None or (folder / f"{corpus_key(seed_value, count)}.json").is_file() or not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child: draw, store, leave without running the parent's cleanup
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent's handlers are not the child's
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()
            generated_plans(seed_value, count)
        except BaseException:
            code = 1
        os._exit(code)
    if not _drawing:
        atexit.register(_stop_drawing)
    _drawing[(seed_value, count)] = pid


def _die_with_parent() -> None:
    """Linux: the kernel kills this child when its parent dies (even by SIGKILL); elsewhere atexit does."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

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


@functools.lru_cache(maxsize=8)
def generated_plans(seed_value: int, count: int) -> tuple[Plan, ...]:
    """Schemathesis' coverage cases, then `count` connections drawn from `seed_value` (same seed, same plans).

    Drawn once, then replayed: kept in memory for the process (the run, the merge of worker shards)
    and on disk keyed by seed, size, spec hash and versions, so a pinned seed in CI draws only once.
    """
    child = _drawing.pop((seed_value, count), None)
    if child is not None:
        try:
            _reap(child, kill=False)  # a failed child only means drawing here, below
        except BaseException:  # Ctrl-C while waiting: the child must not draw on at 100% CPU
            _reap(child, kill=True)
            raise
    folder = corpus_dir()
    path = folder / f"{corpus_key(seed_value, count)}.json" if folder is not None else None
    corpus: dict[str, list[list[str]]] = {}
    if path is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if all(isinstance(loaded.get(k), list) for k in ("coverage", "drawn")):
                corpus = loaded
    if not corpus:
        drawn: list[tuple[str, ...]] = []
        run_hypothesis(seed_value, count, lambda updates: drawn.append(updates))
        corpus = {"coverage": [list(p.updates) for p in coverage_plans()], "drawn": [list(u) for u in drawn]}
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                temporary.write_text(json.dumps(corpus), encoding="utf-8")
                temporary.replace(path)
    coverage = [Plan(f"coverage #{i + 1}", tuple(u)) for i, u in enumerate(corpus["coverage"])]
    drawn_plans = [Plan(f"generated #{i + 1} (seed {seed_value})", tuple(u)) for i, u in enumerate(corpus["drawn"])]
    return (*coverage, *drawn_plans)


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Make draws depend on the seed alone.

    Hypothesis mixes in literals from whichever "local" modules happen to be imported (test files,
    an editable install), so the same seed would draw different exchanges under pytest, under
    xdist workers, or from an installed package. During our draws that pool is empty.
    """
    from hypothesis.internal.conjecture import providers

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


def run_hypothesis(seed_value: int, count: int, body: Callable[[tuple[str, ...]], None], shrink: bool = False) -> None:
    """Draw plans with Hypothesis from a seed; the body sees each (and, with `shrink`, its shrinks)."""

    @given(plans())
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

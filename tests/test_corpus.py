"""The corpus module's one use of a Hypothesis internal, checked so that a Hypothesis release that
changes it fails here, loudly, instead of silently making a seed draw different exchanges under
pytest, xdist workers or an installed package (the run itself tolerates it: reproducibility, not
a verdict, is at stake)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis.internal.conjecture import providers

from conformance import generate
from conformance.generate.corpus import _no_local_constants, corpus_key, run_hypothesis

GENERATE_DIR = Path(generate.__file__).parent


def test_hypothesis_still_has_the_local_constants_pool_we_empty() -> None:
    assert callable(getattr(providers, "_get_local_constants", None)), "Hypothesis renamed _get_local_constants"
    assert hasattr(providers, "CONSTANTS_CACHE"), "Hypothesis renamed CONSTANTS_CACHE"
    pool = providers._get_local_constants()
    for kind in ("integers", "floats", "bytes", "strings"):
        assert hasattr(pool, kind), f"Hypothesis' Constants has no {kind}"
    assert len(type(providers.CONSTANTS_CACHE)(4)) == 0  # the cache type is built from a size


def test_during_our_draws_the_pool_is_empty_and_afterwards_it_is_restored() -> None:
    original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
    with _no_local_constants():
        pool = providers._get_local_constants()
        assert not any(len(getattr(pool, kind)) for kind in ("integers", "floats", "bytes", "strings"))
        assert providers.CONSTANTS_CACHE is not cache
    assert providers._get_local_constants is original and providers.CONSTANTS_CACHE is cache


def test_one_seed_draws_the_same_plans_twice() -> None:
    first: list[tuple[str, ...]] = []
    second: list[tuple[str, ...]] = []
    run_hypothesis(3, 4, first.append)
    run_hypothesis(3, 4, second.append)
    assert first == second and len(first) == 4


@pytest.mark.parametrize("module", sorted(p.name for p in GENERATE_DIR.glob("*.py")))
def test_a_change_to_any_generator_module_is_a_new_corpus_key(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached corpus drawn by older strategies must never be replayed as this code's draws."""
    before = corpus_key(1, 4)
    read = Path.read_bytes

    def edited(self: Path) -> bytes:
        return read(self) + (b"\n# edited\n" if self == GENERATE_DIR / module else b"")

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert corpus_key(1, 4) != before

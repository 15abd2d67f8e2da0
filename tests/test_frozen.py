"""`fast_init`: a frozen dataclass built through it is the one dataclasses' own `__init__` builds."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.checks.connection import Event, Received, Step
from conformance.checks.pairing import Sent
from conformance.contract.oracle import Classification
from conformance.frozen import fast_init
from conformance.transcript import Frame


def _fields(cls_name: str) -> type:
    """A frozen dataclass with every kind of field fast_init must handle (made twice: one keeps dataclasses'
    own __init__)."""

    def __post_init__(self: Any) -> None:
        object.__setattr__(self, "derived", (self.first, len(self.listed)))

    namespace: dict[str, Any] = {
        "__annotations__": {
            "first": "int",
            "second": "str",
            "listed": "list[int]",
            "mapped": "dict[str, int]",
            "fixed": "int",
            "made": "list[int]",
            "derived": "tuple[int, int]",
            "self": "str",
            "d": "int",
        },
        "second": "default",
        "listed": dataclasses.field(default_factory=list),
        "mapped": dataclasses.field(default_factory=lambda: {"made": 1}),
        "fixed": dataclasses.field(init=False, default=7),
        "made": dataclasses.field(init=False, default_factory=lambda: [3]),
        "derived": dataclasses.field(init=False),
        "self": "named as the instance",  # names the generated __init__ must not take for its own
        "d": 4,
        "__post_init__": __post_init__,
    }
    return dataclasses.dataclass(frozen=True)(type(cls_name, (), namespace))


Plain = _fields("Plain")
Fast = fast_init(_fields("Fast"))


def _same(plain: Any, fast: Any) -> None:
    assert list(fast.__dict__.items()) == list(plain.__dict__.items())  # the same fields, in the same order
    assert repr(fast).removeprefix("Fast") == repr(plain).removeprefix("Plain")
    assert fast.fixed == plain.fixed == 7 and fast.self == "named as the instance" and fast.d == 4


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(),
    second=st.none() | st.text(max_size=5),
    listed=st.none() | st.lists(st.integers(), max_size=3),
    mapped=st.none() | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    positional=st.booleans(),
)
def test_an_instance_is_the_one_dataclasses_builds(
    first: int, second: str | None, listed: list[int] | None, mapped: dict[str, int] | None, positional: bool
) -> None:
    given_ = {k: v for k, v in {"second": second, "listed": listed, "mapped": mapped}.items() if v is not None}

    def made(cls: type, first: int = first) -> Any:
        return cls(first, second) if positional and second is not None else cls(first=first, **given_)

    plain, fast = made(Plain), made(Fast)
    _same(plain, fast)
    assert fast == made(Fast) and fast != made(Fast, first + 1)
    assert Fast(first).listed is not Fast(first).listed  # a default factory's value is made for each instance
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.first = 0  # type: ignore[misc]
    _same(dataclasses.replace(plain, first=first + 1), dataclasses.replace(fast, first=first + 1))
    _same(pickle.loads(pickle.dumps(plain)), pickle.loads(pickle.dumps(fast)))


def test_a_missing_or_unknown_argument_is_refused_as_dataclasses_refuses_it() -> None:
    for args, kwargs in (((), {}), ((1,), {"nope": 2}), ((1, "a", [], {}, "me", 4, 5), {}), ((1,), {"fixed": 3})):
        with pytest.raises(TypeError):
            Plain(*args, **kwargs)
        with pytest.raises(TypeError):
            Fast(*args, **kwargs)


def test_only_a_frozen_dataclass_is_taken() -> None:
    @dataclasses.dataclass
    class Unfrozen:
        value: int

    class NoDataclass:
        pass

    for cls in (Unfrozen, NoDataclass):
        with pytest.raises(TypeError, match="not a frozen dataclass"):
            fast_init(cls)

    clashing = dataclasses.make_dataclass("Clashing", [("__fast_init_dict", int)], frozen=True)  # its own local
    with pytest.raises(TypeError, match="fast_init's own names"):
        fast_init(clashing)


@pytest.mark.parametrize("cls", [Frame, Event, Received, Step, Sent, Classification])
def test_the_values_made_for_every_exchange_are_built_fast(cls: type) -> None:
    # dataclasses' own __init__ sets fields through object.__setattr__; fast_init's stores them at once
    assert cls.__init__.__code__.co_filename == "<string>"
    assert "__setattr__" not in cls.__init__.__code__.co_names
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"

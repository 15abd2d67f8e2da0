"""Frozen dataclasses built as fast as plain ones: the values made for every exchange (no I/O)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen dataclass an `__init__` that stores its fields in the instance's `__dict__` at once.

    The one dataclasses writes for a frozen class sets each field through `object.__setattr__` (its own
    `__setattr__` refuses): in Python 3.11 a lookup and a call a field, five times a plain class' cost. The
    values made for every exchange (its frames, events, sent events, classifications and steps) were a
    visible share of the exchange path for it. The same signature, defaults, default factories and
    `__post_init__`; the instances stay frozen, equal, hashed and printed as dataclasses makes them.
    """
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    env: dict[str, Any] = {"MISSING": dataclasses.MISSING}
    params: list[str] = []
    body: list[str] = []
    for field in dataclasses.fields(cls):
        name = field.name
        if field.default is not dataclasses.MISSING and field.init:
            env[f"_default_{name}"] = field.default
        if field.default_factory is not dataclasses.MISSING:
            env[f"_factory_{name}"] = field.default_factory
        if field.init:
            if field.default is not dataclasses.MISSING:
                params.append(f"{name}=_default_{name}")
            elif field.default_factory is not dataclasses.MISSING:
                params.append(f"{name}=MISSING")
                body.append(f" if {name} is MISSING: {name} = _factory_{name}()")
            else:
                params.append(name)
            body.append(f" d[{name!r}] = {name}")
        elif field.default_factory is not dataclasses.MISSING:  # (a plain default is the class attribute)
            body.append(f" d[{name!r}] = _factory_{name}()")
    if hasattr(cls, "__post_init__"):
        body.append(" self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n d = self.__dict__\n" + "\n".join(body) + "\n"
    exec(source, env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls

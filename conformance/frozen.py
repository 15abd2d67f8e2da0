"""Frozen dataclasses built as fast as plain ones: the values made for every exchange (no I/O)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")
#: The prefix of the names the generated `__init__` uses besides the fields' (none of which may start so).
_OURS = "__fast_init_"


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
    fields = dataclasses.fields(cls)
    if any(field.name.startswith(_OURS) for field in fields):
        raise TypeError(f"{cls.__name__} has a field named as fast_init's own names ({_OURS}...)")
    env: dict[str, Any] = {f"{_OURS}missing": dataclasses.MISSING}
    params: list[str] = []
    body: list[str] = []
    for field in fields:
        name, default, factory = field.name, f"{_OURS}default_{field.name}", f"{_OURS}factory_{field.name}"
        if field.default is not dataclasses.MISSING and field.init:
            env[default] = field.default
        if field.default_factory is not dataclasses.MISSING:
            env[factory] = field.default_factory
        if field.init:
            if field.default is not dataclasses.MISSING:
                params.append(f"{name}={default}")
            elif field.default_factory is not dataclasses.MISSING:
                params.append(f"{name}={_OURS}missing")
                body.append(f" if {name} is {_OURS}missing: {name} = {factory}()")
            else:
                params.append(name)
            body.append(f" {_OURS}dict[{name!r}] = {name}")
        elif field.default_factory is not dataclasses.MISSING:  # (a plain default is the class attribute)
            body.append(f" {_OURS}dict[{name!r}] = {factory}()")
    if hasattr(cls, "__post_init__"):
        body.append(f" {_OURS}self.__post_init__()")
    params.insert(0, f"{_OURS}self")
    source = f"def __init__({', '.join(params)}):\n {_OURS}dict = {_OURS}self.__dict__\n" + "\n".join(body) + "\n"
    exec(source, env)  # what dataclasses itself does; only the fields' names go into the source
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls

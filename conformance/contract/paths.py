"""Paths into JSON values, and a value without some of them: what an update may leave unjudged (a null
taken as "not set", a field the server owns) and what an answer need not show (an undocumented member,
an alias set to a contradicting value)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

#: A path from a value: object keys and array indexes.
Path = tuple[str | int, ...]


def without(value: Any, paths: Iterable[Sequence[Any]]) -> Any:
    """`value` without the members at `paths`, in one pass over a trie of them: one copy per container on a
    path, not one per path (a thousand tools, each with an unknown key). An array item is never removed
    (that would move the others), only walked into."""
    trie: dict[Any, Any] = {}
    for path in paths:
        node: dict[Any, Any] | None = trie
        for part in path[:-1]:
            node = node.setdefault(part, {}) if node is not None else None
        if node is not None and path:
            node[path[-1]] = None  # None: the member goes (whatever was under it)
    return _stripped(value, trie) if trie else value


def _stripped(value: Any, trie: dict[Any, Any]) -> Any:
    if isinstance(value, dict):
        out = dict(value)
        for key, below in trie.items():
            if key in out:
                if below is None:
                    del out[key]
                else:
                    out[key] = _stripped(out[key], below)
        return out
    if isinstance(value, list):
        items = list(value)
        for key, below in trie.items():
            if isinstance(key, int) and 0 <= key < len(items) and below is not None:
                items[key] = _stripped(items[key], below)
        return items
    return value

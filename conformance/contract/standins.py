"""Stand-ins for lone surrogates, so that jsonschema-rs judges a value that holds one.

JSON lets a string escape half a surrogate pair (`"\\ud800"`); Python keeps it as a lone surrogate,
which jsonschema-rs cannot take (it encodes every string as UTF-8). Such a value was left to Python
`jsonschema`, at tens of microseconds an error: a hostile target's 1 MiB frame of bad items with one
lone surrogate took seconds to judge. Its copy with each lone surrogate replaced, one to one, by a
code point of planes 15 and 16 (private use), or 4 to 13 (unassigned), that the value does not hold is
judged the same by a schema *blind* to the exchange: one whose strings (literals, member names) hold
neither kind, and whose patterns match both kinds alike (no literal or range of either; `\\w`, `\\s`,
`\\d`, their negations and `.` treat both alike). Lengths are kept (one code point each), and so are
equalities (the map is one to one, and into code points the value does not hold).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from re import _parser  # the stdlib's own regex parser, to read patterns
from typing import Any

#: Lone surrogates, and the code points that stand in for them: planes 15 and 16 (private use), then 4 to 13
#: (unassigned in every version of Unicode): no meaning of their own, none a word, space or digit character,
#: and none a schema of ours names. 786,430 of them: more than a frame of the default bound holds.
_KINDS = ((0xD800, 0xDFFF), (0xF0000, 0x10FFFF), (0x40000, 0xDFFFF))
_LONE = re.compile(f"[{chr(_KINDS[0][0])}-{chr(_KINDS[0][1])}]")
_EITHER = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _KINDS) + "]")


@dataclass(frozen=True)
class StoodIn:
    """A copy of a value with each lone surrogate replaced by a stand-in, and the way back."""

    value: Any
    back: dict[int, int]

    def restored(self, text: str) -> str:
        """A text of the copy (an instance location, say) as it reads in the value copied."""
        return text if text.isascii() else text.translate(self.back)  # isascii: one pass in C


def stood_in(value: Any) -> StoodIn | None:
    """A copy of a JSON value with each lone surrogate replaced, one to one, by a code point of `_KINDS`
    that the value does not hold (so the copy tells apart what the value does); None where the value holds
    so many of those that too few are left. Iterative: any depth a parser took."""
    held: set[str] = set()
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _EITHER.search(item):
                held.update(_EITHER.findall(item))
        elif isinstance(item, dict):
            stack += item
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    lone = sorted(c for c in held if ord(c) <= _KINDS[0][1])
    pool = itertools.chain.from_iterable(range(low, high + 1) for low, high in _KINDS[1:])
    free = (code for code in pool if chr(code) not in held)
    table = {ord(c): code for c, code in zip(lone, free, strict=False)}
    if len(table) < len(lone):
        return None
    return StoodIn(_copied(value, table), {v: k for k, v in table.items()})


def _copied(value: Any, table: dict[int, int]) -> Any:
    """`value` with every string (member names too) translated by `table`, containers copied, iteratively."""

    def one(item: Any) -> Any:
        return item.translate(table) if isinstance(item, str) and _LONE.search(item) else item

    if not isinstance(value, dict | list):
        return one(value)
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        for key, item in source.items() if isinstance(source, dict) else enumerate(source):
            if isinstance(item, dict | list):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child))
            else:
                child = one(item)
            if isinstance(target, dict):
                target[one(key)] = child
            else:
                target.append(child)
    return root


def blind(documents: Iterable[Any]) -> bool:
    """Whether schema documents judge a value and its `stood_in` copy alike (this module's docstring)."""

    def walk(node: Any) -> bool:
        if isinstance(node, str):
            return not _EITHER.search(node)
        if isinstance(node, list):
            return all(walk(x) for x in node)
        if not isinstance(node, dict):
            return True
        patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        patterns += list(node.get("patternProperties") or ()) if isinstance(node.get("patternProperties"), dict) else []
        return all(map(_blind_pattern, patterns)) and all(walk(k) and walk(v) for k, v in node.items())

    return walk(list(documents))


def _blind_pattern(pattern: str) -> bool:
    """Whether a pattern (read by Python's own parser, as Python `jsonschema` reads it) names no lone
    surrogate and no stand-in, alone or in a range; a pattern it cannot read is taken as not blind."""
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return False

    def clear(item: Any) -> bool:
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]) in ("LITERAL", "NOT_LITERAL"):
            return not any(low <= item[1] <= high for low, high in _KINDS)
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]) == "RANGE":
            start, end = item[1]
            return not any(start <= high and low <= end for low, high in _KINDS)
        if isinstance(item, (tuple, list)) or type(item).__name__ == "SubPattern":
            return all(clear(x) for x in item)
        return True

    return clear(parsed)

"""Stand-ins for lone surrogates, so that jsonschema-rs judges a value that holds one.

JSON lets a string escape half a surrogate pair (`"\\ud800"`); Python keeps it as a lone surrogate,
which jsonschema-rs cannot take (it encodes every string as UTF-8). Such a value was left to Python
`jsonschema`, at tens of microseconds an error: a hostile target's 1 MiB frame of bad items with one
lone surrogate took seconds to judge. Its copy with each lone surrogate replaced, one to one, by a
private-use code point of plane 15 is judged the same by a schema *blind* to the exchange: one whose
strings (literals, member names) hold neither kind, and whose patterns match both kinds alike (no
literal or range of either; `\\w`, `\\s`, `\\d`, their negations and `.` treat both alike). Lengths
are kept (one code point each), and so are equalities (the map is one to one, and a value that already
holds a stand-in is not taken).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import _parser  # the stdlib's own regex parser, to read patterns
from typing import Any

_FIRST_SURROGATE, _SURROGATES = 0xD800, 0x800
_FIRST_STAND_IN = 0xF0000  # plane 15's private use area: 65,534 code points, no meaning of their own
_TO = {_FIRST_SURROGATE + i: _FIRST_STAND_IN + i for i in range(_SURROGATES)}
_BACK = {v: k for k, v in _TO.items()}
_EITHER = re.compile("[\ud800-\udfff\U000f0000-\U000f07ff]")
_STAND_IN = re.compile("[\U000f0000-\U000f07ff]")
_KINDS = ((_FIRST_SURROGATE, _FIRST_SURROGATE + _SURROGATES - 1), (_FIRST_STAND_IN, _FIRST_STAND_IN + _SURROGATES - 1))


class _Taken(Exception):
    """A value that holds a stand-in already: its copy could not be told from another's."""


def stood_in(value: Any) -> Any | None:
    """A copy of a JSON value with each lone surrogate replaced by its stand-in; None where a string of
    it (or a member name) already holds a stand-in, or it is nested too deep to copy."""

    def copy(v: Any) -> Any:
        if isinstance(v, str):
            return _string(v)
        if isinstance(v, dict):
            return {_string(k): copy(x) for k, x in v.items()}
        if isinstance(v, list):
            return [copy(x) for x in v]
        return v

    try:
        return copy(value)
    except (_Taken, RecursionError):
        return None


def _string(text: str) -> str:
    if not _EITHER.search(text):
        return text
    if _STAND_IN.search(text):
        raise _Taken
    return text.translate(_TO)


def restored(text: str) -> str:
    """A text of the copy (an instance location, say) as it reads in the value copied."""
    return text if text.isascii() else text.translate(_BACK)  # isascii: a pass in C, translate one in Python


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

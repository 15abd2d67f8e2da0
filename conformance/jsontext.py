"""JSON texts as RFC 8259 defines them, read and written exactly and fast (no I/O).

A frame must be judged whatever it holds: integers of any length stay exact, NaN and lone
surrogates are refused, and messages show a huge integer by its length, not its digits.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import orjson

from conformance.redact import LONE_SURROGATE

# orjson is exact only for integers within 64 bits (beyond, it returns floats); 19 digits may already not be.
# Found as a run of 19 zeros once every ASCII digit is a zero: a C loop over the UTF-8 bytes, several times
# faster than a regular expression's scan (no multi-byte character holds an ASCII byte; lone surrogates
# pass as their own bytes).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_INT_CHUNK = 3000  # digits int() converts at once, well inside Python's int-string limit


class LongInt(int):
    """An integer of thousands of digits, exact, that shows itself by its length.

    RFC 8259 allows integers of any length and a frame must be judged whatever it holds, but
    Python's str() of such an integer is quadratic and refused beyond 4300 digits, and jsonschema's
    messages repr() the values they are about; so this one never writes its digits out.
    """

    def __repr__(self) -> str:
        sign = "a negative" if self < 0 else "an"
        return f"<{sign} integer of about {int(abs(self).bit_length() * 0.30103)} digits>"

    __str__ = __repr__


class NotJSON(json.JSONDecodeError):
    """A text that RFC 8259 does not accept although Python's json module would."""


def _reject_constant(name: str) -> Any:
    raise NotJSON(f"{name} is not JSON (RFC 8259)", name, 0)


@functools.lru_cache(maxsize=32)
def _power_of_ten(exponent: int) -> int:
    power: int = 10**exponent
    return power


def _digits_to_int(digits: str) -> int:
    """Exact, in time near-linear in the length (int() is quadratic and refuses beyond 4300 digits)."""
    if len(digits) <= _INT_CHUNK:
        return int(digits)
    low = 1 << ((len(digits) - 1).bit_length() - 1)
    return _digits_to_int(digits[:-low]) * _power_of_ten(low) + _digits_to_int(digits[-low:])


def _parse_int(text: str) -> int:
    if len(text) <= _INT_CHUNK:
        return int(text)
    value = _digits_to_int(text.lstrip("-"))
    return LongInt(-value if text.startswith("-") else value)


#: The deepest nesting of objects and arrays this suite reads: orjson's, which tells a text nested deeper at
#: once, whatever the caller's stack (Python's parser stops short of it by as much as the stack is deep). A
#: frame nested deeper is JSON that the suite cannot read, not a frame that is not JSON: a run cuts it as at a
#: bound (untestable, exit 3), and a transcript holding one is refused.
MAX_DEPTH = 1024


def containers(text: str) -> int:
    """At least as many as the JSON objects and arrays in `text` (a bracket inside a string counts too)."""
    return text.count("{") + text.count("[")


def too_deep(text: str, counted: int | None = None) -> bool:
    """Whether `text` nests objects and arrays deeper than MAX_DEPTH (or is cut off that deep); `counted`: its
    `containers`, where the caller counted them already."""
    if (containers(text) if counted is None else counted) <= MAX_DEPTH:  # the common case, counted in C: it cannot
        return False
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return str(exc).startswith("depth limit exceeded")
    return False


def quick(text: str) -> bool:
    """Whether the text holds no run of 19 digits: orjson parses it exactly, in time linear in its length."""
    return _LONG_RUN not in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


def glance(text: str) -> Any:
    """A JSON text's value for a quick look (an event's type, its strings), never for judging: an integer
    of many digits is left as its digits, as exact ones cost time growing faster than their length (a MB
    of digits: 0.4 s). NaN and Infinity are refused, as judging refuses them (the runner must not take
    for an answer what the judge does not). Raises ValueError (not JSON) or RecursionError (nested deeper
    than Python parses)."""
    value = _read_at_once(text)
    return json.loads(text, parse_constant=_reject_constant, parse_int=str) if value is _UNREAD else value


def at_once(text: str) -> Any:
    """A JSON text's value where orjson reads it exactly (`quick`, no lone surrogate), else None: a look at a
    long frame that costs milliseconds, never for judging (the standard library's parse of a hostile megabyte
    of integers, which orjson refuses for one lone surrogate, costs a Python call for each)."""
    value = _read_at_once(text)
    return None if value is _UNREAD else value


#: What `_read_at_once` gives for a text orjson does not read exactly (None is JSON's `null`).
_UNREAD: Any = object()


def _read_at_once(text: str, is_quick: bool = False) -> Any:
    """orjson's value of a text it reads exactly (`quick`, found here unless `is_quick`), else `_UNREAD`."""
    if is_quick or quick(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _UNREAD


def parse_text(text: str, is_quick: bool = False) -> Any:
    """RFC 8259 JSON: orjson where it is exact, the standard library (exact integers, no NaN) elsewhere.
    `is_quick`: the caller found `quick(text)` already (a scan of the whole text, not made twice)."""
    value = _read_at_once(text, is_quick)
    if value is not _UNREAD:
        return value
    found = LONE_SURROGATE.search(text)
    if found:
        raise NotJSON("not UTF-8: the frame held bytes that are not valid UTF-8", text, found.start())
    return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)


def json_text(value: Any) -> str:
    """json.dumps(ensure_ascii=False) for messages: an integer of thousands of digits is shown by its length
    (writing it out costs time quadratic in its length, and a message shows 60 characters anyway)."""
    try:
        text = json.dumps(_shorten_long_ints(value), ensure_ascii=False)
    except RecursionError:  # a hostile server may nest a value deeper than Python writes out
        return "<a value nested too deep to write out>"
    if "\\u0000" not in text:
        return text
    return _LONG_INT_MARK.sub(lambda m: f"<{'a negative' if m[1] else 'an'} integer of about {m[2]} digits>", text)


_LONG_INT_MARK = re.compile(r'"\\u0000(-?)(\d+)\\u0000"')


def _shorten_long_ints(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _INT_CHUNK * 3:
        # a mark that json_text replaces, quotes and all
        return f"\0{'-' if value < 0 else ''}{int(value.bit_length() * 0.30103)}\0"
    if isinstance(value, dict):
        return {k: _shorten_long_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten_long_ints(v) for v in value]
    return value


def dump_json(value: Any) -> str:
    """json.dumps, fast: orjson unless the value holds what it cannot write (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)

"""Redaction of credentials in everything written or printed, and never in what is judged.

Judging sees the raw frames; a `Redactor` is applied by every writer (summary, Markdown, badge,
JUnit and Allure through the plugin, transcripts, bundle, console), so no option or header value
can change a verdict. A secret is every form a credential takes: the whole header value, its
token after the scheme (`Bearer <token>`), a Basic pair and its parts, URL userinfo, secret-looking
query values and path segments; each is matched however a server may have written it back:
literally, or with any character as a JSON escape (`\\u0041` in either hex case, `\\/`, `\\n`,
doubled backslashes when the text was escaped twice) or percent-encoded, and base64-encoded
(standard or URL-safe alphabet, alone or inside a longer encoded text, at any of the three byte
alignments: the characters that depend on the secret's bytes only).

A message that quotes a value cut short (`"canary-5e…"`) loses the rest of the secret, so the
start of a secret (six characters or more) is masked where a text is cut: before `…`, a closing
quote or the end of the text. A target that splits a secret of `TAIL_MIN` characters or more
across two frames leaves its end in the second: any end of half of it or more is masked too, in
every form up to `TAIL_FORMS_MAX` characters, literally beyond (the ends of a long token). And any
other run of `PIECE` characters or more of such a secret, as it stands (a message quoting its
middle, `{key[5:17]}`, or a short end, or a target splitting it across three frames), is masked in
pieces of `PIECE`: at most its last `PIECE - 1` characters stay, no more than a run too short to mask.
A secret that holds a word (`canary-redirect-…`) masks that word wherever it stands: readability gives way.

Policy for short values: a secret shorter than `SHORT` characters is masked only where it stands
alone (not inside a word or number), so `--header X-Team:e` masks an echoed `"e"` but leaves the
`e` of `session.updated` readable. Such a value carries too little entropy to be kept from anyone,
and masking it inside words would make every report unreadable while protecting nothing. Longer
secrets are masked wherever they occur.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
SHORT = 8
#: Secrets at least this long are masked by their ends too (half of one, at least: `Redactor._tails`).
TAIL_MIN = 2 * SHORT
#: Ends up to this long are matched in every form (escaped, percent-encoded); longer ones (of a long token:
#: a JWT) literally, as the alternatives in every form of a 2,000-character token's ends would not compile.
TAIL_FORMS_MAX = 100
#: A run of a long secret's characters this long or longer is masked wherever it stands (`Redactor._pieces`).
PIECE = SHORT
#: The start of a secret masked where a text is cut, and the heads whose presence lets a text be scanned at all.
HEAD = SHORT // 2 + 2
SECRET_QUERY = re.compile(r"(key|token|secret|password|passwd|auth|signature|sig|credential)", re.I)

_SHORT_ESCAPES = {'"': '"', "\\": "\\\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}
#: A lone surrogate: what a frame holds for `\ud800` escapes or bytes that were not UTF-8 (no JSON text, no text frame).
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_WORD = "A-Za-z0-9"
_USERINFO = re.compile(r"//([^/?#@]*)@")
# One escape sequence: `\uXXXX` behind one or more backslashes (escaped once, or twice in a JSON
# text inside a string), or one backslash and the character it escapes. So the hex digits of an
# escape are never read as text (`\u00e9` is not "00e9"), and an escaped backslash (`\\`) leaves
# the next character free to start a match. The one ambiguity: a literal backslash followed by `u`
# and four hex digits reads as an escape.
_ESCAPE = r"(?P<escape>(?:(?!\\)|(?<!\\))\\+u[0-9a-fA-F]{4}|\\.)"
#: Where a match may start: not inside a run of backslashes, only where one begins (what matches from
#: within a run matches from its start too, as every backslash form is `\\+`). Else each start within
#: a run rescans the rest of it: a frame of n backslashes took n² steps (minutes, the GIL held).
_START = r"(?:(?!\\)|(?<!\\))"


#: A run of backslashes or percent signs: where a form written with an escape or percent-encoded holds one.
_OCCURRENCE = re.compile(r"[\\%]+")


def _kept_or_masked(match: re.Match[str]) -> str:
    """A match of the masking regex replaced: an escape sequence kept (it is there only to be stepped over)."""
    return match[0] if match.lastgroup == "escape" else REDACTED


def _hex(code: int, width: int = 4) -> str:
    """A hex number in any letter case, as a regex."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in f"{code:0{width}x}")


def _units(ch: str) -> tuple[int, ...]:
    """A character's UTF-16 code units: what its JSON escape names (a pair of surrogates past U+FFFF)."""
    code = ord(ch)
    return (code,) if code <= 0xFFFF else (0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF))


def _spellings(ch: str) -> set[str]:
    """What a text holds where `_char` matches one character other than as itself: its `uXXXX` escape (the
    high half's, for a pair) or its first byte's `%XX`, in every letter case, or its short escape."""
    cased = [("u", f"{_units(ch)[0]:04x}"), ("%", f"{ch.encode('utf-8', 'surrogatepass')[0]:02x}")]
    found = {sign + "".join(p) for sign, hex_ in cased for p in itertools.product(*({c, c.upper()} for c in hex_))}
    return found | ({"\\" + _SHORT_ESCAPES[ch]} if ch in _SHORT_ESCAPES else set())


_Spellings = tuple[tuple[str, tuple[str, ...]], ...]


def _grouped(spellings: set[str]) -> _Spellings:
    """Spellings by their first three characters (looked for first: one search for a group)."""
    groups: dict[str, list[str]] = {}
    for spelling in sorted(spellings):
        groups.setdefault(spelling[:3], []).append(spelling)
    return tuple((prefix, tuple(group)) for prefix, group in groups.items())


def _spelled_in(text: str, spellings: _Spellings) -> bool:
    """Whether the text holds one of the spellings (a character of a secret escaped or percent-encoded)."""
    return ("\\" in text or "%" in text) and any(
        prefix in text and any(spelling in text for spelling in group) for prefix, group in spellings
    )


#: An escape sequence or a run of percent-encoded bytes, read as the masking regexes read them (`_char`).
_TOKEN = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+([\"\\/bfnrt])|((?:%[0-9a-fA-F]{2})+)")
_UNESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _decoded(text: str) -> tuple[str, list[int]]:
    """The text with each escape and run of percent-encoded bytes read, and where each of its characters
    starts in the text (one more entry: the text's end). An escaped pair of surrogates stays two."""
    pieces: list[str] = []
    starts: list[int] = []
    last = 0
    for token in _TOKEN.finditer(text):
        pieces.append(text[last : token.start()])
        starts.extend(range(last, token.start()))
        code, short, percent = token.groups()
        if percent is not None:  # each character where its first byte's `%XX` is (a byte not UTF-8: one each)
            read = bytes.fromhex(percent.replace("%", "")).decode("utf-8", "surrogateescape")
            offsets = itertools.accumulate((_utf8_length(c) for c in read[:-1]), initial=0)
            starts.extend(token.start() + 3 * offset for offset in offsets)
        else:
            read = chr(int(code, 16)) if code is not None else _UNESCAPED.get(short, short)
            starts.append(token.start())
        pieces.append(read)
        last = token.end()
    pieces.append(text[last:])
    starts.extend(range(last, len(text) + 1))
    return "".join(pieces), starts


def _utf8_length(ch: str) -> int:
    """The bytes of a character read from percent-encoded UTF-8 (one for a byte that was not UTF-8)."""
    return 1 if 0xDC80 <= ord(ch) <= 0xDCFF else len(ch.encode("utf-8", "surrogatepass"))


def _char(ch: str) -> str:
    """Every way one character of a secret can be written in a JSON text, a message or a URL."""
    forms = [re.escape(ch), "".join(rf"\\+u{_hex(unit)}" for unit in _units(ch))]
    if ch in _SHORT_ESCAPES:
        forms.append(r"\\+" + re.escape(_SHORT_ESCAPES[ch]))
    forms.append("".join(f"%{_hex(byte, 2)}" for byte in ch.encode("utf-8", "surrogatepass")))
    return "(?:" + "|".join(forms) + ")"


def _pattern(secret: str) -> str:
    body = "".join(_char(ch) for ch in secret)
    if len(secret) < SHORT:
        # standing alone: after a non-word character or an escaped control character (`\n`, `\u000a`)
        return rf"(?:(?<![{_WORD}])|(?<=\\[nrtbf])|(?<=\\u00[01][0-9a-fA-F])){body}(?![{_WORD}])"
    return body


#: What may follow a secret's start where a message cut it short: an ellipsis (as it is, as three dots, or
#: JSON-escaped once or more), a closing quote (escaped or not), or the end of the text.
_CUT_END = r'(?=…|\.\.\.|\\+u2026|\\*"|$)'


def _prefix_tree(words: Iterable[str]) -> str:
    """A regex for any of `words` (literal, all of one length), factored by their common starts: each position
    of a text then tries a path down a tree, not each of thousands of alternatives (the pieces of a JWT)."""
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items())]
        if len(branches) > 1:
            return "(?:" + "|".join(branches) + ")"
        return branches[0] if branches else ""  # one way on, or a word's end

    return pattern(tree)


def _cut_pattern(secret: str) -> str:
    """The start of a secret where a message was cut short (before an ellipsis, a closing quote or the end)."""
    chars = [_char(ch) for ch in secret]
    # each further character taken if it is there, possessively: as a prefix, without nesting (a nested group
    # a character failed to compile beyond ~380 characters: a long token) and without backtracking
    return "".join(chars[:HEAD]) + "".join(f"(?:{c})?+" for c in chars[HEAD:]) + _CUT_END


def basic_forms(encoded: str) -> set[str]:
    """`user:password` of a Basic credential, and each part."""
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return set()
    user, _, password = pair.partition(":")
    return {pair, user, password}


def credential_forms(value: str) -> set[str]:
    """A header value and what it holds: the whole, the token after a scheme, a Basic pair's parts."""
    value = value.strip()
    forms = {value}
    scheme, sep, token = value.partition(" ")
    if sep and token.strip():
        forms.add(token.strip())
        if scheme.lower() == "basic":
            forms |= basic_forms(token)
    return {f for f in forms if f}


def base64_forms(secret: str) -> set[str]:
    """What any base64 encoding of a text holding `secret` must contain, in both alphabets: at each
    of the three byte offsets it may start at, the characters made of its bits alone."""
    data = secret.encode("utf-8", "surrogatepass")
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        first = -(-8 * offset // 6)  # the first character whose six bits all come from the secret
        last = 8 * (offset + len(data)) // 6  # the characters before it end within the secret
        core = encoded[first:last]
        if len(core) >= SHORT:
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


#: A path segment that looks like a key: 16 characters or more mixing upper- and lower-case letters and
#: digits, or 32 or more with digits (hex tokens, UUIDs). A model or folder name does not look like one.
_KEY_LIKE = re.compile(r"(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9]).{16,}|(?=.*[0-9]).{32,}", re.S)


def secret_segment(previous: str, segment: str) -> bool:
    """Whether a URL path segment holds a credential: it follows one named like a credential
    (`/key/<value>`), or it looks like a key itself (`/v1/<key>/realtime`)."""
    plain = unquote(segment)
    return bool(plain) and (bool(SECRET_QUERY.search(unquote(previous))) or bool(_KEY_LIKE.fullmatch(plain)))


def url_forms(url: str) -> set[str]:
    """The secrets a URL carries: its userinfo (as written, decoded and Basic-encoded), the values
    of secret-looking query parameters, and secret-looking path segments."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:  # not a URL urllib can split: whatever stands before an @ is userinfo
        found = _USERINFO.search(url)
        return {found[1], *found[1].split(":", 1)} - {""} if found else set()
    forms: set[str] = set()
    if user is not None:
        plain_user, plain_password = unquote(user), unquote(password or "")
        pair = f"{plain_user}:{plain_password}"
        forms |= {user, password or "", plain_user, plain_password, pair, f"{user}:{password or ''}"}
        forms.add(base64.b64encode(pair.encode("utf-8", "surrogateescape")).decode())
    for item in parts.query.split("&"):
        key, _, value = item.partition("=")
        if SECRET_QUERY.search(unquote(key)) and value:
            forms |= {value, unquote(value), unquote(value.replace("+", " "))}
    segments = parts.path.split("/")
    for previous, segment in zip(["", *segments], segments, strict=False):
        if secret_segment(previous, segment):
            forms |= {segment, unquote(segment)}
    return {f for f in forms if f}


def escape_surrogates(text: str) -> str:
    """Lone surrogates (from `\\ud800` in a frame, or bytes that were not UTF-8) written as `\\udXXX`.

    Inside a JSON string that is the JSON escape of the same code point, so a JSON document stays
    exact; elsewhere it is a readable stand-in. Either way the text can be written as UTF-8.
    """
    if not LONE_SURROGATE.search(text):
        return text
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def _masked_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with each span (start, end) replaced by REDACTED, overlapping or touching spans by one."""
    out, last = [], 0
    for start, end in sorted(spans):
        if start >= last:
            out += [text[last:start], REDACTED]
        last = max(last, end)
    return "".join([*out, text[last:]]) if spans else text


def one_line(text: str) -> str:
    """The text as one line of plain characters: each one that is not printable (a newline, an escape
    sequence, a C1 control, a line separator, a bidirectional override: a target's way to forge or hide
    a line on a terminal or in a job summary) written as its Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Redactor:
    """Masks every form of the given secrets; built once per run from its credentials."""

    secrets: tuple[str, ...] = ()

    @functools.cached_property
    def _forms(self) -> frozenset[str]:
        """The secrets, and what a base64 encoding of each (long enough to mean anything) contains."""
        given = {s for s in self.secrets if s}
        return frozenset(given.union(*(base64_forms(s) for s in given if len(s) >= SHORT)))

    @functools.cached_property
    def _regex(self) -> re.Pattern[str] | None:
        if not self._forms:
            return None
        # Last, an escape sequence as a whole: the scan never starts a match inside one (the hex
        # digits of \u00e9 are not the text "00e9"); `mask` puts it back unchanged.
        return re.compile(_START + "(?:" + "|".join(self._parts) + ")|" + _ESCAPE)

    @functools.cached_property
    def _parts(self) -> tuple[str, ...]:
        """The regex's alternatives: every form whole, then the start of each cut short."""
        unique = sorted(self._forms, key=lambda s: (-len(s), s))
        return (*(_pattern(s) for s in unique), *(_cut_pattern(s) for s in unique if len(s) >= SHORT))

    @functools.cached_property
    def _tails(self) -> tuple[str, ...]:
        """Every end of a secret given, of at least half its length, longest first: what a second frame holds
        when a target splits an echoed secret across two (long enough that no other text holds it by chance).
        A regex of their own (`_tail_regex`): as alternatives of the main one, they doubled its cost."""
        long = [s for s in self.secrets if len(s) >= TAIL_MIN]
        return tuple(sorted({s[i:] for s in long for i in range(1, len(s) - len(s) // 2 + 1)}, key=len, reverse=True))

    @functools.cached_property
    def _words(self) -> frozenset[str]:
        """Every run of PIECE characters of a secret of TAIL_MIN or more."""
        return frozenset(
            s[i : i + PIECE] for s in self.secrets if len(s) >= TAIL_MIN for i in range(len(s) - PIECE + 1)
        )

    @functools.cached_property
    def _pieces(self) -> str:
        """Runs of a secret of TAIL_MIN or more, as they stand, in pieces of PIECE characters: a message that
        quotes its middle (`{key[5:17]}`) or a short end, or a target that splits it across three frames. The
        run is masked but for fewer than PIECE of its last characters (a piece of its own is no run to mask)."""
        return f"(?:{_prefix_tree(self._words)})+" if self._words else ""

    @functools.cached_property
    def _piece_starts(self) -> re.Pattern[str] | None:
        """Each place a run of PIECE characters of a long secret starts (overlapping runs each found)."""
        return re.compile(f"(?=(?:{_prefix_tree(self._words)}))") if self._words else None

    @functools.cached_property
    def _tail_regex(self) -> re.Pattern[str]:
        """The tails in every form a character takes (`_char`; literally past TAIL_FORMS_MAX characters), then
        the pieces (`_pieces`), never starting inside an escape sequence (`\\u000f` then a tail that begins
        with `0f` is not that tail, and masking there would break the JSON text)."""
        parts = ("".join(map(_char, t)) if len(t) <= TAIL_FORMS_MAX else re.escape(t) for t in self._tails)
        pieces = [self._pieces] if self._pieces else []
        return re.compile(_START + "(?:" + "|".join([*parts, *pieces]) + ")|" + _ESCAPE)

    @functools.cached_property
    def _heads(self) -> tuple[str, ...]:
        """What any literal form of a secret, or of its start, must contain."""
        ends = {s[start : start + HEAD] for s in self.secrets if len(s) >= TAIL_MIN for start in range(len(s))}
        return tuple({s[:HEAD] for s in self._forms} | {e for e in ends if len(e) == HEAD})

    def mask(self, text: str) -> str:
        """The text with every form of every secret replaced by REDACTED (nothing else changes)."""
        regex = self._regex
        if regex is None:
            return text
        starts, ends = self._spelled
        # a long secret's ends read through their escapes first: the tail regex takes them literally, and would
        # find a literal end starting inside an escape (`%35…`), and the forms a start of it inside a repetition
        text = self._masked_long_ends(text, ends)
        held = any(head in text for head in self._heads)
        masked = self._masked(text, regex, starts, held)
        if not self._tails:
            return masked
        held = held if masked is text else any(head in masked for head in self._heads)
        masked = self._masked(masked, self._tail_regex, ends, held)  # what is left of a secret split by a target
        return self._masked_spelled_runs(masked, ends)

    def _masked(self, text: str, regex: re.Pattern[str], spellings: _Spellings, held: bool) -> str:
        """`regex` (the forms, or the tails) applied, where it can match: a match holds a head of a secret
        (`_heads`) literally (`held`), or else one of its first characters escaped (its `spellings`). A scan
        costs ~0.3 s/MB: a text that holds no head is scanned only near its escapes (`_masked_near_escapes`),
        and one that holds neither (JSON with other characters escaped, say) not at all."""
        if held:
            return regex.sub(_kept_or_masked, text)
        if _spelled_in(text, spellings):
            near = self._masked_near_escapes(text, regex)
            return near if near is not None else regex.sub(_kept_or_masked, text)
        return text

    @functools.cached_property
    def _spelled(self) -> tuple[_Spellings, _Spellings]:
        """What a match of a form (its first characters: the head it does not hold literally), and of an
        end (any character of a long secret past its first), holds escaped (`_spellings`), by their first
        three characters (a text of other escapes, `\\u041f`, holds few of those)."""
        starts = {ch for form in self._forms for ch in form[:HEAD]}
        ends = {ch for s in self.secrets if len(s) >= TAIL_MIN for ch in s[1:]}
        return _grouped(set().union(*map(_spellings, starts))), _grouped(set().union(*map(_spellings, ends)))

    def _masked_long_ends(self, text: str, spellings: _Spellings) -> str:
        """The ends of secrets longer than TAIL_FORMS_MAX (the tail regex takes theirs literally), written with
        escapes: found in the text as the regexes read it (`_decoded`), from the shortest end back as far as
        the secret goes, and masked where they were written. Only where the text spells a character of one."""
        long = [s for s in self.secrets if len(s) > TAIL_FORMS_MAX + 1]  # an end longer than TAIL_FORMS_MAX
        if not long or not _spelled_in(text, spellings):
            return text
        decoded, starts = _decoded(text)
        spans: list[tuple[int, int]] = []
        for secret in long:
            first = len(secret) - len(secret) // 2  # the shortest end: secret[first:]
            at = decoded.find(secret[first:])
            while at >= 0:
                begin, index = at, first
                while index > 0 and begin > 0 and decoded[begin - 1] == secret[index - 1]:  # to its start
                    begin, index = begin - 1, index - 1
                spans.append((starts[begin], starts[at + len(secret) - first]))
                at = decoded.find(secret[first:], at + len(secret) - first)
        return _masked_spans(text, spans)

    def _masked_spelled_runs(self, text: str, spellings: _Spellings) -> str:
        """Runs of PIECE characters or more of a long secret written with escapes or percent-encoded (`_pieces`
        takes them as they stand: a target that escapes every character of a third of a key): found in the text
        as the regexes read it (`_decoded`), and masked whole where they were written. Only where the text
        spells a character of one."""
        starts_of = self._piece_starts
        if starts_of is None or not _spelled_in(text, spellings):
            return text
        decoded, starts = _decoded(text)
        return _masked_spans(
            text, [(starts[m.start()], starts[m.start() + PIECE]) for m in starts_of.finditer(decoded)]
        )

    @functools.cached_property
    def _reach(self) -> int:
        """How far a match reaches from the escape or percent sign nearest it, in characters that are neither
        (a secret's character takes at most ten: two `uXXXX` escapes or four `%XX`), with room for the
        look-behind and look-ahead of `_pattern` and `_CUT_END`."""
        return 12 * (max(map(len, self._forms)) + 4)

    def _masked_near_escapes(self, text: str, regex: re.Pattern[str]) -> str | None:
        """`regex.sub` of a text no form stands in literally from its start (no head): every match, and every
        escape the scan steps over, then holds an escape or percent sign within `_reach` of its start, so the
        scan is done only in windows around them, as it would go there. None where the windows would cover
        half the text: one scan is then cheaper. A hostile frame of a megabyte with one `\\ud800` took 0.3 s."""
        reach, windows, covered = self._reach, list[list[int]](), 0
        if (text.count("\\") + text.count("%")) * reach > len(text):
            return None  # dense: its windows would cover it (a run of signs counts once per sign here, once below)
        for found in _OCCURRENCE.finditer(text):
            start, end = max(0, found.start() - reach), min(len(text), found.end() + 2 * reach)
            if windows and start <= windows[-1][1]:
                covered += max(0, end - windows[-1][1])
                windows[-1][1] = max(end, windows[-1][1])
            else:
                windows.append([start, end])
                covered += end - start
            if 2 * covered > len(text):
                return None
        out, last, at = [], 0, 0
        for start, end in windows:
            at = max(start, at)
            # a match found in the window is matched again in the whole text: its look-ahead may see past the
            # window's end (`$`); one that is not there is never found before it, as no match reaches that far
            while at < end and (candidate := regex.search(text, at, end)) is not None:
                match = regex.match(text, candidate.start())
                if match is None:
                    at = candidate.start() + 1
                    continue
                if match.lastgroup != "escape":
                    out += [text[last : match.start()], REDACTED]
                    last = match.end()
                at = match.end()
        return "".join([*out, text[last:]])

    def text(self, text: str) -> str:
        """Free text ready to print or write: no secret, and lone surrogates shown as `\\udXXX`."""
        return escape_surrogates(self.mask(text))

    def line(self, text: str) -> str:
        """`text`, and one line of plain characters (`one_line`): for a terminal, a table, a summary."""
        return one_line(self.mask(text))

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string value in it masked (keys are ours: left as they are)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def url(self, url: str) -> str:
        """The URL as it may be shown: no userinfo, no secret-looking query value, no secret."""
        return self.text(public_url(url))


def public_url(url: str, secrets: Iterable[str] = ()) -> str:
    """The URL without user:password and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return redactor(tuple(secrets) + tuple(url_forms(url))).text(_USERINFO.sub("//", url))
    if ":" in host:
        host = f"[{host}]"
    segments = parts.path.split("/")
    path = "/".join(
        REDACTED if secret_segment(previous, segment) else segment
        for previous, segment in zip(["", *segments], segments, strict=False)
    )
    query = urlencode(
        [(k, REDACTED if SECRET_QUERY.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
        safe="/:[]",
    )
    return redactor(tuple(secrets)).text(urlunsplit((parts.scheme, host + port, path, query, "")))


NO_SECRETS = Redactor()


@functools.lru_cache(maxsize=16)
def redactor(secrets: tuple[str, ...]) -> Redactor:
    """The one Redactor of a set of secrets (compiled once, shared by every writer)."""
    return Redactor(secrets)

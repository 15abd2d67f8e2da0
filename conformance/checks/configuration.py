"""Exchange checks about the configuration: an accepted update is applied, what it did not set is
kept (also across a rejected one), and the server's identifiers behave. Registered in `registry`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from conformance.checks.answers import flaw
from conformance.checks.connection import Connection, Step, is_bad
from conformance.checks.findings import describe_value
from conformance.checks.registry import HELD, Finding, Flaw, Needs, connection_check, step_check
from conformance.contract.paths import without

_ABSENT = object()


def covers(expected: Any, actual: Any) -> bool:
    """Whether `actual` carries `expected`: equal JSON values, where an object may hold more keys."""
    if type(expected) in (dict, list):
        try:
            equal = expected == actual
        except RecursionError:  # nested deeper than Python compares: the walk decides
            equal = False
        # Equal in Python and written out the same (so `true` is not `1`, infinities not null):
        # the same JSON value, which is what a server echoing a value gives; found in C.
        if equal:
            try:
                if orjson.dumps(expected, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
                    actual, option=orjson.OPT_SORT_KEYS
                ):
                    return True
            except orjson.JSONEncodeError:
                pass  # an integer beyond 64 bits, a lone surrogate, nesting too deep: the walk decides
    return _carries(expected, actual)


def _carries(expected: Any, actual: Any) -> bool:
    """`covers`, walked: a null set may be shown as null or left out, `true` is not `1`, `1` is `1.0`.
    A loop over a stack, not recursion: a hostile server may nest a value as deep as it likes."""
    pending = [(expected, actual)]
    while pending:
        expected, actual = pending.pop()
        kind, other = type(expected), type(actual)
        if kind is dict:
            if other is not dict:
                return False
            for key, value in expected.items():
                if key not in actual:
                    if value is not None:
                        return False
                elif type(value) is str and type(actual[key]) is str:
                    if actual[key] != value:
                        return False
                else:
                    pending.append((value, actual[key]))
        elif kind is list:
            if other is not list or len(actual) != len(expected):
                return False
            pending.extend(zip(expected, actual, strict=True))
        elif kind is bool or other is bool:
            if expected is not actual:
                return False
        elif kind in (int, float) and other in (int, float):
            if expected != actual:
                return False
        elif not (kind is other and expected == actual):
            return False
    return True


def _where(expected: Any, actual: Any) -> str:
    """Where two strings differ, when a shortened rendering of both could look the same."""
    if not isinstance(expected, str) or not isinstance(actual, str):
        return ""
    i = next(
        (n for n, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), min(len(expected), len(actual))
    )
    got = f"U+{ord(actual[i]):04X}" if i < len(actual) else "the end"
    wanted = f"U+{ord(expected[i]):04X}" if i < len(expected) else "the end"
    return f" (they differ at character {i}: {got} instead of {wanted}; {len(actual)} characters, {len(expected)} set)"


@step_check("EX-REFLECT", Needs(kinds=frozenset({"valid", "undetermined"}), certain=True))
def check_reflected(step: Step, conn: Connection) -> Finding | None:
    """Every update the server accepts, valid or undetermined, comes back applied (spec-notes,
    "Accepting means applying"): each documented field it set with a value of its documented type,
    but nulls taken as "not set", server-owned fields, aliases set to contradicting values and
    members the field's schema does not document (an unknown field, which the server may ignore)."""
    classification, patch = step.classification, step.classification.session
    updated = step.of_type("session.updated")
    if step.own_errors or not step.complete:
        # rejected, or answered both ways (EX-VALID-ANSWERED's, EX-ONE-ANSWER's), or it may have been (its
        # own error may be in the next window): no acceptance to judge
        return None
    if not updated or patch is None or updated[0].session is None or not step.in_time(updated[0]):
        return None
    answer, session, bad = updated[0], updated[0].session, updated[0].bad_paths
    applied = classification.applied
    # all reflected: one comparison for the whole update (`covers` of each field); exemptions only take
    # expectations away, so where it holds it holds without them
    whole = not bad and all(key in session for key in applied)
    if whole and covers({key: patch[key] for key in applied}, {key: session[key] for key in applied}):
        return HELD
    exempt: list[list[Any]] = [p.split(".") for p in classification.contradicted]
    exempt += [list(p) for p in classification.undocumented]
    accepted = "" if classification.kind == "valid" else f" (an accepted undetermined update: {classification.reason})"
    flaws: list[Flaw] = []
    for key in classification.applied:
        inner = [p[1:] for p in exempt if p[0] == key] if exempt else []
        if (bad and is_bad(bad, key)) or [] in inner:
            continue  # already a violation of that field's own requirement, or nothing to reflect
        value = without(patch[key], inner)
        if key in session:
            if covers(value, session[key]):
                continue
            path, shown = f"session.{key}", without(session[key], inner)
            message = f"{path} is {describe_value(shown)}; the update set {describe_value(value)}"
            flaws.append(flaw(path, message + _where(value, shown) + accepted, step, answer.frame))
        elif value is not None:  # a null set and left out of the answer: the same effective configuration
            path = f"session.{key}"
            flaws.append(
                flaw(path, f"{path} was set but is missing from session.updated{accepted}", step, answer.frame)
            )
    return Finding(tuple(flaws))


def unset_changes(conn: Connection, step: Step) -> tuple[bool, list[tuple[str, Any, Any]]]:
    """Whether the patch rule judges this step's answer, and the (field, before, now) it broke.

    Judged: each documented top-level field the update did not set, that the answer shows and
    that was known before. Not judged (spec-notes, "Patch semantics"): `id` (EX-SESSION-ID-STABLE's),
    a field whose alias the update set, an answer to an update that switched `session.type`.
    """
    updated = step.updated_in_time
    patch = step.classification.session
    if len(updated) != 1 or updated[0].session is None or step.before is None or patch is None:
        return False, []
    if step.of_type("error") or step.classification.kind == "invalid":
        return False, []  # contradicting answers, or an invalid update accepted: EX-INVALID-REJECTED's
    before, now, bad = step.before, updated[0].session, updated[0].bad_paths
    if "type" in patch and patch["type"] != before.get("type", "realtime"):
        return False, []
    exempt = {"id"}
    aliased = conn.alias_tops
    for key in patch:
        if key in aliased:
            exempt.update(aliased[key])
    keys = [
        key
        for key in conn.sorted_fields
        if not (key in exempt or key in patch or key not in before or key not in now or (bad and is_bad(bad, key)))
    ]
    if not keys:
        return False, []
    if covers({key: before[key] for key in keys}, {key: now[key] for key in keys}):
        return True, []  # all kept: one comparison for the whole answer (`covers` of each field)
    return True, [(f"session.{key}", before[key], now[key]) for key in keys if not covers(before[key], now[key])]


def _unset_fields_never_shown(conn: Connection) -> str | None:
    shown = [
        (set(step.classification.session), step.updated[0].session)
        for step in conn.certain
        if step.updated and step.updated[0].session is not None and step.classification.session is not None
    ]
    if not conn.unpaired and shown and all(not (conn.fields - {"id"} - patch) & set(now) for patch, now in shown):
        return "session.updated never showed a documented field that its update did not set (all are optional)"
    return None


@step_check("EX-PATCH-KEEPS-UNSET", Needs(certain=True, after_error=False), not_applicable=_unset_fields_never_shown)
def check_patch_semantics(step: Step, conn: Connection) -> Finding | None:
    judged, broken = unset_changes(conn, step)
    flaws = tuple(
        flaw(path, f"{path} is {describe_value(now)}; the update did not set it and it was {describe_value(before)}",
             step, step.updated[0].frame)
        for path, before, now in broken
    )  # fmt: skip
    return Finding(flaws) if judged else None


#: A change after a rejected update that is no leak of it: what a server without patch semantics does
#: to every update, so EX-PATCH-KEEPS-UNSET's when that requirement fails in the run too.
RESET = "reset"


@step_check(
    "EX-KEEP-CONFIG",
    Needs(certain=True, after_error=True),
    not_applicable=_unset_fields_never_shown,
    explained_by=((RESET, "EX-PATCH-KEEPS-UNSET"),),
)
def check_config_kept(step: Step, conn: Connection) -> Finding | None:
    rejected = step.since_error
    assert rejected is not None  # its needs admit only steps after a rejected update
    judged, broken = unset_changes(conn, step)
    leaked = rejected.classification.session or {}
    flaws = []
    for path, before, now in broken:
        key = path.removeprefix("session.")
        # A default (what session.created showed) coming back is no proof of a leak.
        default = (conn.created or {}).get(key, _ABSENT)
        leak = key in leaked and covers(leaked[key], now) and not covers(default, now)
        origin = " (the value of the rejected update)" if leak else ""
        message = (
            f"{path} is {describe_value(now)}{origin}; the next update did not set it "
            f"and before the rejected update it was {describe_value(before)}"
        )
        flaws.append(Flaw(path, message, step.updated[0].frame, rejected.sent, "" if leak else RESET))
    return Finding(tuple(flaws)) if judged else None


def _session_id_sent_once_at_most(conn: Connection) -> str | None:
    """Stability needs an id in two sessions of one connection; a server may send it in `session.created`
    alone, or nowhere (an optional field), and then there is nothing to compare."""
    sessions = [e.session for e in conn.events if conn.carries(e.type, "session") and e.session]
    if len(sessions) >= 2 and sum(isinstance(session.get("id"), str) for session in sessions) < 2:
        return "the server sent session.id, an optional field, in one session of a connection at most"
    return None


@connection_check("EX-SESSION-ID-STABLE", not_applicable=_session_id_sent_once_at_most)
def check_session_id_stable(conn: Connection) -> Iterator[Finding]:
    current: str | None = None
    # An id the client itself set in an update is the client's request, not the server's drift.
    asked = {
        step.classification.session["id"]
        for step in conn.steps
        if step.classification.session and isinstance(step.classification.session.get("id"), str)
    }
    for event in conn.events:
        sid = event.session.get("id") if conn.carries(event.type, "session") and event.session is not None else None
        if not isinstance(sid, str):
            continue
        if current is not None:
            if sid != current and sid not in asked:
                message = f"session.id changed from {describe_value(current)} to {describe_value(sid)}"
                yield Finding((Flaw("session.id", message, event.frame),))
            else:
                yield HELD
        current = sid


@connection_check("EX-EVENT-ID-UNIQUE")
def check_event_ids_unique(conn: Connection) -> Iterator[Finding]:
    seen: set[str] = set()
    for event in conn.events:
        eid = event.data.get("event_id")
        if not isinstance(eid, str) or not eid:
            continue
        if eid in seen:
            message = f"event_id {describe_value(eid)} was already used on this connection"
            yield Finding((Flaw("event_id", message, event.frame),))
        else:
            yield HELD
        seen.add(eid)

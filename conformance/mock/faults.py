"""The mock's faults: each makes it misbehave in exactly one way and names what that must trip.

A fault either rewrites one kind of outgoing event (`mutate`) or changes what the mock does (the
session logic looks it up by name). `trips` is the exact set of requirement IDs the suite must
report for it under the scripted exchanges; `outcome` names the run outcome for faults that stop
the suite from testing at all (a refused or hanging handshake). `FAULTS` are those of every dialect;
`DIALECT_FAULTS` break a field only some dialects have (`dialects`); `faults_of` is one dialect's list.
"""

from __future__ import annotations

from dataclasses import replace

from conformance.mock.fault import Event, Fault
from conformance.mock.fault import drop_at as _drop
from conformance.mock.fault import set_at as _set

__all__ = ["BY_NAME", "DIALECT_FAULTS", "FAULTS", "VARIANTS", "Event", "Fault", "faults_of", "for_dialect", "lookup"]

FAULTS: tuple[Fault, ...] = (
    # timing and transport
    Fault(
        "never-answers",
        "never answers a session.update",
        ("EX-VALID-ANSWERED", "EX-INVALID-REJECTED"),
        may_trip=("EX-UNDETERMINED-ANSWERED",),  # on a connection that sent only undetermined updates
    ),
    Fault(
        "answers-late",
        "answers valid updates (right after an error too) only after --late-s seconds",
        ("EX-VALID-ANSWERED",),
    ),
    Fault("answers-twice", "answers each valid update with two session.updated events", ("EX-VALID-ONCE",)),
    Fault("rejects-valid", "answers valid updates with an error", ("EX-VALID-ANSWERED",)),
    Fault(
        "accepts-invalid",
        "answers invalid updates with session.updated (configuration unchanged)",
        ("EX-INVALID-REJECTED",),
    ),
    Fault("silent-on-invalid", "sends nothing for an invalid update", ("EX-INVALID-REJECTED",)),
    Fault(
        "silent-on-undetermined",
        "sends nothing for an update the documents leave undetermined (valid and invalid ones are answered)",
        ("EX-UNDETERMINED-ANSWERED",),
    ),
    Fault(
        "updates-and-rejects",
        "answers each update it accepts with session.updated and then an error echoing it",
        ("EX-ONE-ANSWER",),
    ),
    Fault(
        "closes-after-error", "closes the connection (1008) right after sending an error", ("EX-USABLE-AFTER-ERROR",)
    ),
    Fault(
        "deaf-after-error",
        "answers nothing more on a connection once it sent an error",
        ("EX-USABLE-AFTER-ERROR",),
        may_trip=("EX-INVALID-REJECTED",),
    ),
    Fault(
        "applies-rejected", "sends error for an invalid update but applies its well-typed fields", ("EX-KEEP-CONFIG",)
    ),
    Fault(
        "resets-unset-fields",
        "each update resets the fields it does not set to their defaults (no patch semantics)",
        ("EX-PATCH-KEEPS-UNSET",),
    ),
    Fault(
        "resets-after-error",
        "the update after an error resets the fields it does not set to their defaults",
        ("EX-KEEP-CONFIG",),
    ),
    Fault("wrong-error-echo", "error.event_id names another event than the client's", ("EX-ERROR-ECHO",)),
    Fault(
        "drops-tools",
        "session.updated leaves out tools, even when the update set them",
        ("EX-REFLECT",),
        "session.updated",
        _drop("session.tools"),
    ),
    Fault("changes-session-id", "every session.updated carries a new session.id", ("EX-SESSION-ID-STABLE",)),
    Fault("repeats-event-id", "session.updated reuses the event_id of session.created", ("EX-EVENT-ID-UNIQUE",)),
    Fault("non-json-frame", "sends a text frame that is not JSON after session.created", ("WIRE-JSON-OBJECT",)),
    Fault("binary-frame", "sends a binary frame after session.created", ("WIRE-TEXT-FRAME",)),
    Fault(
        "closes-mid-exchange",
        "closes (1011) instead of answering a valid update that follows a session.updated",
        ("EX-VALID-ANSWERED",),
    ),
    Fault("rejects-handshake", "rejects every handshake with HTTP 403", outcome="handshake-rejected"),
    Fault("hangs-handshake", "never completes the WebSocket handshake", outcome="timeout"),
    # session.created
    Fault("no-session-created", "does not send session.created on connect", ("SC-SENT",)),
    Fault(
        "created-without-event-id",
        "session.created has no event_id",
        ("SC-EVENT-ID",),
        "session.created",
        _drop("event_id"),
    ),
    Fault(
        "created-session-not-object",
        "session.created carries session as a string",
        ("SC-SESSION",),
        "session.created",
        _set("session", "realtime"),
    ),
    # session.updated envelope
    Fault(
        "wrong-answer-type",
        "answers with type session_updated instead of session.updated",
        ("SU-TYPE",),
        "session.updated",
        _set("type", "session_updated"),
    ),
    Fault(
        "updated-without-event-id",
        "session.updated has no event_id",
        ("SU-EVENT-ID",),
        "session.updated",
        _drop("event_id"),
    ),
    Fault(
        "updated-without-session",
        "session.updated has no session",
        ("SU-SESSION",),
        "session.updated",
        _drop("session"),
    ),
    # RealtimeSession fields in session.updated
    Fault(
        "missing-session-type",
        "session.updated has no session.type",
        ("RS-TYPE-PRESENT",),
        "session.updated",
        _drop("session.type"),
    ),
    Fault(
        "bad-session-type",
        "session.type is 'conversation'",
        ("RS-TYPE-ENUM",),
        "session.updated",
        _set("session.type", "conversation"),
    ),
    Fault(
        "object-not-string",
        "session.object is a number",
        ("RS-OBJECT-TYPE",),
        "session.updated",
        _set("session.object", 1),
    ),
    Fault(
        "id-not-string",
        "session.id is a number in session.updated",
        ("RS-ID-TYPE",),
        "session.updated",
        _set("session.id", 42),
    ),
    Fault(
        "model-not-string",
        "session.model is a number",
        ("RS-MODEL-TYPE",),
        "session.updated",
        _set("session.model", 250923),
    ),
    Fault(
        "model-malformed",
        "session.model lacks the gpt://<folder-id>/ prefix",
        ("RS-MODEL-FORMAT",),
        "session.updated",
        _set("session.model", "speech-realtime-250923"),
    ),
    Fault(
        "modalities-not-array",
        "session.output_modalities is a string",
        ("RS-OUTPUT-MODALITIES-TYPE",),
        "session.updated",
        _set("session.output_modalities", "audio"),
    ),
    Fault(
        "instructions-not-string",
        "session.instructions is an array",
        ("RS-INSTRUCTIONS-TYPE",),
        "session.updated",
        _set("session.instructions", ["Be brief."]),
    ),
    Fault(
        "tools-not-array",
        "session.tools is an object",
        ("RS-TOOLS-TYPE",),
        "session.updated",
        _set("session.tools", {}),
    ),
    Fault(
        "turn-detection-not-object",
        "session.turn_detection is a string",
        ("RS-TURN-DETECTION-TYPE",),
        "session.updated",
        _set("session.turn_detection", "server_vad"),
    ),
    Fault(
        "transcription-not-object",
        "session.input_audio_transcription is true",
        ("RS-INPUT-AUDIO-TRANSCRIPTION-TYPE",),
        "session.updated",
        _set("session.input_audio_transcription", True),
    ),
    Fault(
        "voice-not-string", "session.voice is a number", ("RS-VOICE-TYPE",), "session.updated", _set("session.voice", 7)
    ),
    Fault(
        "audio-not-object",
        "session.audio is a string",
        ("RS-AUDIO-TYPE",),
        "session.updated",
        _set("session.audio", "pcm16"),
    ),
    # the error event
    Fault(
        "wrong-error-type",
        "rejects with type invalid_request_error instead of error",
        ("ERR-TYPE",),
        "error",
        _set("type", "invalid_request_error"),
    ),
    Fault("error-without-event-id", "the error event has no event_id", ("ERR-EVENT-ID",), "error", _drop("event_id")),
    Fault(
        "error-not-object",
        "the error event carries error as a string",
        ("ERR-ERROR-OBJECT",),
        "error",
        _set("error", "bad request"),
    ),
    Fault("error-without-type", "error.type is missing", ("ERR-ERROR-TYPE",), "error", _drop("error.type")),
    Fault("error-without-message", "error.message is missing", ("ERR-MESSAGE",), "error", _drop("error.message")),
    Fault("error-code-not-string", "error.code is a number", ("ERR-CODE-TYPE",), "error", _set("error.code", 400)),
    Fault("error-param-not-string", "error.param is a number", ("ERR-PARAM-TYPE",), "error", _set("error.param", 1)),
    Fault(
        "error-event-id-not-string",
        "error.event_id is a number",
        ("ERR-EVENT-ID-TYPE",),
        "error",
        _set("error.event_id", 12345),
    ),
)

#: Faults of a field only some dialects' contracts have. openai's session carries the server's expiry and
#: the GA fields that the SDK types (RS-SDK-FIELD-TYPES): an ISO 8601 time where the SDK's
#: `RealtimeSessionCreateResponse` has integer Unix seconds (or null), a string where it has an array.
DIALECT_FAULTS: tuple[Fault, ...] = (
    Fault(
        "expires-at-not-integer",
        "session.expires_at is an ISO 8601 string, not integer Unix seconds",
        ("RS-SDK-FIELD-TYPES",),
        "session.updated",
        _set("session.expires_at", "2030-01-01T00:00:00Z"),
        dialects=("openai",),
    ),
    Fault(
        "sdk-field-wrong-type",
        "session.include is a string, not an array (a GA field the SDK types)",
        ("RS-SDK-FIELD-TYPES",),
        "session.updated",
        _set("session.include", "item.input_audio_transcription.logprobs"),
        dialects=("openai",),
    ),
)

BY_NAME = {f.name: f for f in (*FAULTS, *DIALECT_FAULTS)}

#: The same misbehaviour where another dialect keeps the field elsewhere or names the rule otherwise
#: (openai: the voice and turn detection live under `audio`, a model ID is a name). Every fault trips
#: a requirement (or ends the run with its outcome) in every dialect.
VARIANTS: dict[str, dict[str, Fault]] = {
    "openai": {
        "model-malformed": Fault(
            "model-malformed",
            "session.model is a gpt:// URI, not a model name",
            ("RS-MODEL-NAME",),
            "session.updated",
            _set("session.model", "gpt://b1gmockfolder0000000/gpt-realtime"),
        ),
        "turn-detection-not-object": Fault(
            "turn-detection-not-object",
            "session.audio.input.turn_detection is a string",
            ("RS-AUDIO-TYPE",),
            "session.updated",
            _set("session.audio.input.turn_detection", "server_vad"),
        ),
        "transcription-not-object": Fault(
            "transcription-not-object",
            "session.audio.input.transcription is true",
            ("RS-AUDIO-TYPE",),
            "session.updated",
            _set("session.audio.input.transcription", True),
        ),
        "voice-not-string": Fault(
            "voice-not-string",
            "session.audio.output.voice is a number",
            ("RS-AUDIO-TYPE",),
            "session.updated",
            _set("session.audio.output.voice", 7),
        ),
    }
}


def for_dialect(fault: Fault, dialect: str) -> Fault:
    """The fault as the mock commits it in `dialect`, with the requirements that must catch it there."""
    if not fault.exists_in(dialect):
        raise ValueError(_elsewhere(fault, dialect))
    variant = VARIANTS.get(dialect, {}).get(fault.name)
    return fault if variant is None else replace(variant, outcome=fault.outcome, may_trip=fault.may_trip)


def faults_of(dialect: str) -> tuple[Fault, ...]:
    """Every fault the mock can commit in `dialect`, as it commits it there."""
    return tuple(for_dialect(f, dialect) for f in (*FAULTS, *DIALECT_FAULTS) if f.exists_in(dialect))


def lookup(names: list[str] | tuple[str, ...], dialect: str | None = None) -> tuple[Fault, ...]:
    """The faults named, each of `dialect` when one is given (KeyError names the first that is not)."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise KeyError(f"unknown fault {unknown[0]!r}; see --list-faults")
    elsewhere = [BY_NAME[n] for n in names if dialect is not None and not BY_NAME[n].exists_in(dialect)]
    if elsewhere:
        raise KeyError(_elsewhere(elsewhere[0], dialect or ""))
    return tuple(BY_NAME[n] for n in names)


def _elsewhere(fault: Fault, dialect: str) -> str:
    only = " and ".join(fault.dialects)
    return f"fault {fault.name!r} exists in the {only} dialect only, not in {dialect}; see --list-faults"

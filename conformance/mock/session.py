"""The reference mock's protocol logic, without I/O: frames in, actions out (sans-I/O, like h11).

It behaves as the documents say: `session.created` first; `session.update` is a patch; the answer
carries the full effective configuration; an invalid update gets an `error` echoing its
`event_id`, and the configuration stays as it was; unknown fields are ignored; only the
configured models are accepted. Faults change exactly one of these behaviours.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.contract import Contract, load_contract
from conformance.contract.oracle import Classification, Context, classify
from conformance.mock.faults import Fault
from conformance.transcript import dump_json

DEMO_FOLDER = "b1gmockfolder0000000"
DEFAULT_MODEL = load_contract().model_id(DEMO_FOLDER)
#: The audio object of the official guide (spec-notes), as known-values.json holds it.
GUIDE_AUDIO: dict[str, Any] = load_contract().schemas["known-values.json"]["properties"]["audio"]["const"]


def settable_fields(contract: Contract) -> frozenset[str]:
    """The documented session fields a client may set in the dialect: all but the server's own (`readOnly`
    in the update's patch or in the session's schema: the identifiers, openai's expiry)."""
    properties = contract.schemas["realtime-session.json"]["properties"]
    return frozenset(k for k, v in properties.items() if not v.get("readOnly")) - contract.read_only


def default_models(contract: Contract) -> tuple[str, ...]:
    """The models the mock accepts when none is given: the dialect's own (a name, or a demo folder's URI)."""
    return (contract.model_id(DEMO_FOLDER),)


@dataclass(frozen=True)
class Send:
    text: str


@dataclass(frozen=True)
class SendBinary:
    data: bytes


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


Action = Send | SendBinary | Sleep | Close


def created_type(contract: Contract, path: str) -> str:
    """The session type a connection is created as: transcription where the dialect's intent query asks
    for it (openai: `?intent=transcription`), else realtime."""
    intent = contract.dialect_info.get("transcription_intent")
    asked = parse_qs(urlsplit(path).query).get(intent["query"], []) if intent else []
    return "transcription" if intent and intent["value"] in asked else "realtime"


def initial_session(model: str, contract: Contract | None = None, kind: str = "realtime") -> dict[str, Any]:
    """The configuration a connection starts with: the guide's values, in the fields the dialect has."""
    contract = contract or load_contract()
    if kind == "transcription":
        audio_in = contract.schemas["known-values.json"]["properties"]["audio"]["const"]["input"]
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": f"sess_{uuid.uuid4().hex[:20]}",
            "audio": {"input": copy.deepcopy(audio_in)},
        }
    audio = contract.schemas["known-values.json"]["properties"]["audio"]["const"]
    fields = settable_fields(contract) | {"id", "object"}  # the session the mock builds has both
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": f"sess_{uuid.uuid4().hex[:20]}",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "You are a helpful voice assistant.",
        "tools": [],
        "turn_detection": copy.deepcopy(audio["input"]["turn_detection"]),
        "input_audio_transcription": None,
        "voice": audio["output"]["voice"],
        "audio": copy.deepcopy(audio),
    }
    return {k: v for k, v in session.items() if k in fields}


class MockSession:
    """One connection's state: the effective configuration and what was last answered."""

    def __init__(
        self,
        contract: Contract,
        models: tuple[str, ...],
        faults: tuple[Fault, ...],
        late_s: float,
        path: str = "",
    ) -> None:
        self._contract = contract
        self._models = frozenset(models)
        self._faults = {f.name: f for f in faults}
        self._rewrites = any(f.mutate is not None for f in faults) or "changes-session-id" in self._faults
        # What a session.updated may show: a rejected value that leaks in is shown only if well-typed.
        self._session_validator = contract.validators["session.updated"].evolve(
            schema={"$ref": "realtime-session.json"}
        )
        self._late_s = late_s
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._settable = settable_fields(contract)
        self.config = initial_session(models[0], contract, created_type(contract, path))
        self._defaults = copy.deepcopy(self.config)
        self._context = Context(self._models, self.config["type"])
        self._created_event_id = ""
        self._errored = False
        self._last_answer = ""

    def _has(self, name: str) -> bool:
        return name in self._faults

    def _event_id(self) -> str:
        return f"event_{self._prefix}_{next(self._ids)}"

    def _emit(self, event: dict[str, Any]) -> Send:
        for fault in self._faults.values():
            if fault.mutate is not None and fault.applies_to == event["type"]:
                fault.mutate(event)
        return Send(dump_json(event))

    def on_connect(self) -> list[Action]:
        actions: list[Action] = []
        self._created_event_id = self._event_id()
        if not self._has("no-session-created"):
            created = {
                "type": "session.created",
                "event_id": self._created_event_id,
                "session": copy.deepcopy(self.config),
            }
            actions.append(self._emit(created))
        if self._has("non-json-frame"):
            actions.append(Send("hello: this frame is not JSON"))
        if self._has("binary-frame"):
            actions.append(SendBinary(b"\x00\x01\x02\x03"))
        return actions

    def on_binary(self) -> list[Action]:
        return self._reject(Classification("invalid", "binary frames are not supported"), "")

    def on_text(self, text: str) -> list[Action]:
        if self._has("never-answers") or (self._has("deaf-after-error") and self._errored):
            return []
        verdict = classify(text, self._contract, self._context)
        if verdict.kind == "undetermined" and self._has("silent-on-undetermined"):
            return []
        missing = self._contract.dialect_info.get("missing_type_error")
        if verdict.kind == "invalid" and missing and verdict.session is not None and "type" not in verdict.session:
            # the dialect's own answer to an update without session.type (openai: missing_required_parameter)
            return self._reject(
                verdict, "Missing required parameter: 'session.type'.", missing["param"], missing["code"]
            )
        if verdict.kind == "invalid":
            return self._reject(verdict, verdict.reason)
        kind = (verdict.session or {}).get("type")
        if self._contract.dialect_info.get("session_type_fixed") and kind is not None and kind != self.config["type"]:
            message = f"Passing a {kind} session update event to a {self.config['type']} session is not allowed."
            return self._reject(verdict, message, "session.type")
        model = (verdict.session or {}).get("model")
        if model is not None and (not isinstance(model, str) or model not in self._models):  # [] is no key
            return self._reject(verdict, f"model {str(model)[:80]!r} is not available to this folder", "session.model")
        return self._accept(verdict)

    def _reject(
        self, verdict: Classification, message: str, param: str | None = None, code: str = "invalid_value"
    ) -> list[Action]:
        invalid = verdict.kind == "invalid"
        if invalid and self._has("silent-on-invalid"):
            return []
        if invalid and self._has("accepts-invalid"):
            return [self._updated()]
        if invalid and self._has("applies-rejected"):
            self._apply(verdict.session or {}, only_well_typed=True)
        self._errored = True
        self._last_answer = "error"
        actions: list[Action] = [self._error(verdict, message or verdict.reason, param or verdict.path, code)]
        if self._has("closes-after-error"):
            actions.append(Close(1008, "closing after an error"))
        return actions

    def _error(self, verdict: Classification, message: str, param: str | None, code: str) -> Send:
        echoed = "event_not_yours" if self._has("wrong-error-echo") and verdict.event_id else verdict.event_id
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": echoed,
        }
        return self._emit({"type": "error", "event_id": self._event_id(), "error": error})

    def _accept(self, verdict: Classification) -> list[Action]:
        valid = verdict.kind == "valid"
        if valid and self._has("rejects-valid"):
            return self._reject(verdict, "this update is not accepted")
        if valid and self._has("closes-mid-exchange") and self._last_answer == "updated":
            return [Close(1011, "internal error")]
        after_error = self._last_answer == "error"
        # What the oracle says an accepting answer must reflect: nulls taken as "not set" are left out.
        session = verdict.session or {}
        if self._has("resets-unset-fields") or (self._has("resets-after-error") and after_error):
            self._reset_unset(session)
        self._apply({k: session[k] for k in verdict.applied}, only_well_typed=False)
        actions: list[Action] = [self._updated()]
        if valid and self._has("answers-twice"):
            actions.append(self._updated())
        if self._has("updates-and-rejects"):
            actions.append(self._error(verdict, "this update was applied, and is an error too", None, "contradiction"))
        if valid and self._has("answers-late"):
            actions.insert(0, Sleep(self._late_s))
        return actions

    def _updated(self) -> Send:
        # The configuration is copied only for faults that rewrite the event; else it is serialized as is.
        session = copy.deepcopy(self.config) if self._rewrites else self.config
        if self._has("changes-session-id"):
            session["id"] = f"sess_{uuid.uuid4().hex[:20]}"
        event_id = self._created_event_id if self._has("repeats-event-id") else self._event_id()
        self._last_answer = "updated"
        return self._emit({"type": "session.updated", "event_id": event_id, "session": session})

    def _reset_unset(self, patch: dict[str, Any]) -> None:
        """Not a patch: every documented field the update does not set goes back to its default."""
        for key in self._settable - set(patch):
            if key in self._defaults:
                self.config[key] = copy.deepcopy(self._defaults[key])
            else:  # a field the session did not start with (openai's SDK has many): gone again
                self.config.pop(key, None)

    def _apply(self, patch: dict[str, Any], only_well_typed: bool) -> None:
        """Apply a patch: documented fields replace their value; unknown fields are ignored."""
        for key, value in patch.items():
            if key not in self._settable:
                continue
            if only_well_typed and not self._session_validator.is_valid({**self.config, key: value}):
                continue
            self.config[key] = value  # the patch was parsed from this frame alone: nothing else holds it

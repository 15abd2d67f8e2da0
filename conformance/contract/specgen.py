"""Render the OpenAPI 3.1 and AsyncAPI 3.0 documents from the JSON Schemas (the one source).

`python -m conformance.contract.specgen` rewrites `spec/openapi.json` and `spec/asyncapi.json`; a test
fails when the committed files differ from what this renders, so they cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.contract import SPEC_DIR, load_contract

#: The schemas that are no event, by their component name; the events' come from the registry.
SHARED_COMPONENTS = {"realtime-session.json": "RealtimeSession", "session-update-patch.json": "RealtimeSessionPatch"}
REGISTRY = load_contract().registry
COMPONENT = SHARED_COMPONENTS | {e.schema: e.component for e in REGISTRY.events}
CLIENT_EVENTS = {e.name: e.component for e in REGISTRY.events if e.direction == "client"}
SERVER_EVENTS = {e.name: e.component for e in REGISTRY.events if e.direction == "server"}
YANDEX_WS = "rest-assistant.api.cloud.yandex.net"


def _rewrite_refs(node: Any, prefix: str) -> Any:
    """Turn file references (`realtime-session.json#/properties/x`) into `prefix + Name/...`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("$schema", "$id"):
                continue
            if key == "$ref":
                file, _, pointer = value.partition("#")
                out[key] = prefix + COMPONENT[file] + pointer
            else:
                out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def components(prefix: str) -> dict[str, Any]:
    # as loaded: the supported model names (data, dialect.json) applied to the model pattern
    schemas = load_contract().schemas
    return {name: _rewrite_refs(schemas[file], prefix) for file, name in COMPONENT.items()}


def render_openapi() -> dict[str, Any]:
    """The documented event pages as OpenAPI 3.1 (the doc generator's 'POST …/events/…' view)."""
    paths: dict[str, Any] = {}
    for event in REGISTRY.events:
        name = event.component
        paths[event.page] = {
            "post": {
                "operationId": event.name.replace(".", "_"),
                "summary": f"{event.name} ({event.direction} event)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                },
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Realtime API session configuration events",
            "version": __version__,
            "description": (
                "Rendering of the documented event pages. On the wire each event is one JSON text frame "
                "on the Realtime WebSocket; there is no such HTTP call."
            ),
        },
        "servers": [{"url": "https://ai.api.cloud.yandex.net"}],
        "paths": paths,
        "components": {"schemas": components("#/components/schemas/")},
    }


def render_asyncapi() -> dict[str, Any]:
    """The Realtime WebSocket channel as AsyncAPI 3.0: send session.update, receive the answers."""
    messages = {
        event.replace(".", "_"): {
            "name": event,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        for event, name in {**CLIENT_EVENTS, **SERVER_EVENTS}.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Realtime API session configuration exchange", "version": __version__},
        "servers": {
            "yandex": {
                "host": YANDEX_WS,
                "pathname": "/v1/realtime/openai",
                "protocol": "wss",
                "description": "Query: model=gpt://<folder-id>/speech-realtime-250923. "
                "Auth: 'Authorization: api-key <key>' or 'Authorization: Bearer <IAM token>'.",
            }
        },
        "channels": {
            "realtime": {
                "address": "/v1/realtime/openai",
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
            }
        },
        "operations": {
            "sendSessionUpdate": {
                "action": "send",
                "channel": {"$ref": "#/channels/realtime"},
                "messages": [
                    {"$ref": f"#/channels/realtime/messages/{event.replace('.', '_')}"} for event in CLIENT_EVENTS
                ],
            },
            "receiveSessionEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/realtime"},
                "messages": [
                    {"$ref": f"#/channels/realtime/messages/{event.replace('.', '_')}"} for event in SERVER_EVENTS
                ],
            },
        },
        "components": {"messages": messages, "schemas": components("#/components/schemas/")},
    }


RENDERED = {"openapi.json": render_openapi, "asyncapi.json": render_asyncapi}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_all(directory: Path = SPEC_DIR) -> None:
    for file, render in RENDERED.items():
        (directory / file).write_text(dumps(render()), encoding="utf-8")


if __name__ == "__main__":
    write_all()

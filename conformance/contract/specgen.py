"""Render the OpenAPI 3.1 and AsyncAPI 3.0 documents from the JSON Schemas (the one source).

`python -m conformance.contract.specgen` rewrites `spec/openapi.json` and `spec/asyncapi.json`; a test
fails when the committed files differ from what this renders, so they cannot drift. Any dialect's
documents render from its loaded contract (what the generators hand Schemathesis); the committed
files are the default dialect's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance import __version__
from conformance.contract import DEFAULT_DIALECT, SPEC_DIR, Contract, load_contract

#: The schemas that are no event, by their component name; the events' come from the registry.
SHARED_COMPONENTS = {"realtime-session.json": "RealtimeSession", "session-update-patch.json": "RealtimeSessionPatch"}
YANDEX_WS = "rest-assistant.api.cloud.yandex.net"
#: The server of the default dialect's OpenAPI rendering (any other dialect's: its endpoint's host).
YANDEX_API = "https://ai.api.cloud.yandex.net"


def component_names(contract: Contract) -> dict[str, str]:
    """Each schema file's component name: the shared schemas', then each registered event's."""
    return SHARED_COMPONENTS | {e.schema: e.component for e in contract.registry.events}


def _rewrite_refs(node: Any, prefix: str, names: dict[str, str]) -> Any:
    """Turn file references (`realtime-session.json#/properties/x`) into `prefix + Name/...`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("$schema", "$id"):
                continue
            if key == "$ref":
                file, _, pointer = value.partition("#")
                out[key] = prefix + names[file] + pointer
            else:
                out[key] = _rewrite_refs(value, prefix, names)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix, names) for v in node]
    return node


def components(prefix: str, contract: Contract) -> dict[str, Any]:
    """The contract's schemas (as loaded: its dialect's, its model names applied) as components."""
    names = component_names(contract)
    return {name: _rewrite_refs(contract.schemas[file], prefix, names) for file, name in names.items()}


def render_openapi(contract: Contract | None = None) -> dict[str, Any]:
    """The documented event pages as OpenAPI 3.1 (the doc generator's 'POST …/events/…' view)."""
    contract = contract if contract is not None else load_contract()
    server = YANDEX_API
    if contract.dialect != DEFAULT_DIALECT:
        server = f"https://{urlsplit(contract.dialect_info['endpoint']).hostname}"
    paths: dict[str, Any] = {}
    for event in contract.registry.events:
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
        "servers": [{"url": server}],
        "paths": paths,
        "components": {"schemas": components("#/components/schemas/", contract)},
    }


def render_asyncapi() -> dict[str, Any]:
    """The Realtime WebSocket channel as AsyncAPI 3.0 (the default dialect's): send session.update,
    receive the answers."""
    contract = load_contract()
    events = contract.registry.events
    client_events = {e.name: e.component for e in events if e.direction == "client"}
    server_events = {e.name: e.component for e in events if e.direction == "server"}
    messages = {
        event.replace(".", "_"): {
            "name": event,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        for event, name in {**client_events, **server_events}.items()
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
                    {"$ref": f"#/channels/realtime/messages/{event.replace('.', '_')}"} for event in client_events
                ],
            },
            "receiveSessionEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/realtime"},
                "messages": [
                    {"$ref": f"#/channels/realtime/messages/{event.replace('.', '_')}"} for event in server_events
                ],
            },
        },
        "components": {"messages": messages, "schemas": components("#/components/schemas/", contract)},
    }


RENDERED = {"openapi.json": render_openapi, "asyncapi.json": render_asyncapi}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_all(directory: Path = SPEC_DIR) -> None:
    for file, render in RENDERED.items():
        (directory / file).write_text(dumps(render()), encoding="utf-8")


if __name__ == "__main__":
    write_all()

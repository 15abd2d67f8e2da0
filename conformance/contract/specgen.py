"""Render the OpenAPI 3.1 and AsyncAPI 3.0 documents from the JSON Schemas (the one source).

`python -m conformance.contract.specgen` rewrites `spec/openapi.json` and `spec/asyncapi.json`; a test
fails when the committed files differ from what this renders, so they cannot drift. Any dialect's
documents render from its loaded contract (what the generators hand Schemathesis); the committed
files are the default dialect's, and `--dialect NAME --out DIR` writes another dialect's into DIR.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance import __version__
from conformance.contract import DEFAULT_DIALECT, DIALECTS, SPEC_DIR, Contract, load_contract

#: The schemas that are no event, by their component name; the events' come from the registry.
SHARED_COMPONENTS = {"realtime-session.json": "RealtimeSession", "session-update-patch.json": "RealtimeSessionPatch"}
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


def render_asyncapi(contract: Contract | None = None) -> dict[str, Any]:
    """The Realtime WebSocket channel as AsyncAPI 3.0 (the contract's dialect's, by default the default
    one): send session.update, receive the answers; the server is the dialect's documented endpoint."""
    contract = contract if contract is not None else load_contract()
    endpoint = urlsplit(contract.dialect_info["endpoint"])
    auth = " or ".join(f"'{header}'" for header in contract.dialect_info["auth_headers"])
    query = endpoint.query
    if intent := contract.dialect_info.get("transcription_intent"):
        query += f" ({intent['query']}={intent['value']} for a transcription session)"
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
            contract.dialect: {
                "host": endpoint.hostname,
                "pathname": endpoint.path,
                "protocol": endpoint.scheme,
                "description": f"Query: {query}. Auth: {auth}.",
            }
        },
        "channels": {
            "realtime": {
                "address": endpoint.path,
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


#: Each rendered document's file name and its renderer (of any dialect's contract).
RENDERED: dict[str, Callable[[Contract | None], dict[str, Any]]] = {
    "openapi.json": render_openapi,
    "asyncapi.json": render_asyncapi,
}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_all(directory: Path = SPEC_DIR, dialect: str = DEFAULT_DIALECT) -> None:
    contract = load_contract(None, dialect)
    for file, render in RENDERED.items():
        (directory / file).write_text(dumps(render(contract)), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m conformance.contract.specgen", description=__doc__)
    parser.add_argument("--dialect", choices=DIALECTS, default=DEFAULT_DIALECT, help="whose contract to render")
    parser.add_argument("--out", type=Path, help="the folder to write into (default: spec/, the default dialect's)")
    args = parser.parse_args(argv)
    if args.out is None and args.dialect != DEFAULT_DIALECT:
        parser.error(f"spec/ holds the {DEFAULT_DIALECT} documents: give --out DIR for {args.dialect}'s")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    write_all(args.out or SPEC_DIR, args.dialect)


if __name__ == "__main__":
    main()

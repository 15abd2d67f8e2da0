"""`realtime-conformance diff A B`: what differs between two dialects, and whether it breaks a verdict."""

from __future__ import annotations

import argparse
import json
from typing import Any

from conformance.contract import load_contract
from conformance.contract.diff import diff

#: Exit codes: no breaking difference, breaking differences found (a CI gate can fail on it).
SAME, BREAKING = 0, 1


def cmd_diff(args: argparse.Namespace) -> int:
    differences = diff(load_contract(dialect=args.a), load_contract(dialect=args.b))
    breaking = sum(d.breaking for d in differences)
    if args.format == "json":
        doc = {"a": args.a, "b": args.b, "breaking": breaking, "differences": [d.to_json() for d in differences]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return BREAKING if breaking else SAME
    rows: list[Any] = [("", "KIND", "WHERE", args.a.upper(), args.b.upper())]
    rows += [("!" if d.breaking else " ", d.kind, d.where, d.a or "-", d.b or "-") for d in differences]
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    for mark, kind, where, a, b in rows:
        print(f"{mark:<{widths[0]}} {kind:<{widths[1]}}  {where:<{widths[2]}}  {a}  ->  {b}")
    print(f"\n{len(differences)} differences from {args.a} to {args.b}, {breaking} breaking (marked !)")
    return BREAKING if breaking else SAME

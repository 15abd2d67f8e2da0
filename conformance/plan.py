"""What to send: one connection's planned updates (plain values, shared by generate and the runner)."""

from __future__ import annotations

from dataclasses import dataclass

#: Stands for the model the target announced in `session.created`; the runner puts it in at send time.
MODEL_PLACEHOLDER = "$announced-model"


@dataclass(frozen=True)
class Plan:
    """One connection: the texts of the updates to send, in order."""

    label: str
    updates: tuple[str, ...]

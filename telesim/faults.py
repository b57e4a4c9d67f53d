"""Faults armed for the next Bot API calls of a method: error answers and hangs."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

from telesim.state import ApiCall


@dataclass
class Fault:
    """One armed fault: answer ``status`` (with ``description``), or hold ``hang`` seconds."""

    status: int = 0
    retry_after: int | None = None
    description: str | None = None
    hang: float = 0.0
    chat_id: int | None = None  # only calls to this chat (None: any call of the method)

    def applies_to(self, call: ApiCall) -> bool:
        return self.chat_id is None or str(call.params.get("chat_id")) == str(self.chat_id)


class Faults:
    """The faults waiting for coming calls, per method key (a normalised method name)."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def arm(self, key: str, fault: Fault, count: int) -> None:
        """Arm ``fault`` for the next ``count`` calls of the method ``key`` that it applies to."""
        self._queues.setdefault(key, deque()).extend([fault] * count)

    def clear(self) -> None:
        """Forget every armed fault."""
        self._queues.clear()

    def take(self, key: str, call: ApiCall) -> Fault | None:
        """Disarm and return the first fault for ``key`` that applies to ``call``, if any."""
        faults = self._queues.get(key)
        fault = next((f for f in faults if f.applies_to(call)), None) if faults else None
        if faults and fault is not None:
            faults.remove(fault)
        return fault


def default_description(status: int, retry_after: int | None) -> str:
    """The description of an injected error answer with ``status``."""
    if status == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    try:
        return f"{HTTPStatus(status).phrase}: injected by the double"
    except ValueError:
        return f"Injected failure {status}"

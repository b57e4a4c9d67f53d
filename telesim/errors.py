"""The errors the simulator answers with (``ApiError``) or raises in tests (``WaitTimeout``)."""

from __future__ import annotations

from telesim.state import JSON


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        """The JSON body Telegram would send for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class WaitTimeout(AssertionError):
    """Raised by the ``wait_*`` helpers; an AssertionError so pytest reports it as a failure."""

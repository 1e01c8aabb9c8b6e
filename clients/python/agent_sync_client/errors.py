"""SyncError: every failure of a call, typed by the server's error code (or ``network_error``)."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional


class SyncError(Exception):
    """The server's ``{error, message, ...details}`` as ``code``, ``message`` and ``details``, with the HTTP
    ``status``; ``status`` 0 and code ``network_error`` when no answer came (after the retries)."""

    def __init__(self, status: int, code: str, message: str, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: Dict[str, Any] = details or {}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"SyncError(status={self.status!r}, code={self.code!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, status: int, text: str) -> SyncError:
        """The error an answer carries; a body that is not our JSON error still gets a code from its status."""
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            details = {k: v for k, v in body.items() if k not in ("error", "message")}
            return cls(status, body["error"], str(body.get("message", body["error"])), details)
        return cls(status, f"http_{status}", f"HTTP {status}: {text[:200]}")

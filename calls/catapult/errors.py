"""Typed exceptions for everything that can go wrong talking to Catapult.

`str(exc)` is always plain words, safe to show to an operator and to store.
"""

from __future__ import annotations

from typing import Any


class CatapultError(Exception):
    """Any failure talking to Catapult. `str(exc)` is plain words, safe to show and store."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        category: str = "",
        details: list | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.status
        self.code = code
        self.category = category
        self.details = details or []


class ConnectionFailed(CatapultError):
    """The API could not be reached or did not answer in time."""


class NotFound(CatapultError):
    status = 404


class InvalidCallState(CatapultError):
    """403 call-invalid-state: the call's state does not allow the change."""

    status = 403


class RateLimited(CatapultError):
    """429 (or 403 call-rate-limit on create). `reset_at` is epoch seconds, when known."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class BadRequest(CatapultError):
    status = 400


class ServerError(CatapultError):
    """5xx from the API."""


class MalformedResponse(CatapultError):
    """A response that is not what the API promises (bad JSON, wrong shape, bad header)."""

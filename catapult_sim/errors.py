"""API errors, raised anywhere and rendered by the server as Catapult's JSON error body.

Body shape: {"category", "code", "message", "details": [{"name", "value"}, ...]}; the
server appends requestMethod, remoteAddress and requestPath to the resource details given
here, in the order the live API used.
"""

from __future__ import annotations

# The live API's own wording, backticks included.
FINAL_STATE_MESSAGE = (
    "Unable to update call {call}. You can`t update the call`s state after being set to {state}"
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        category: str,
        code: str,
        message: str | None,
        details: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or code)
        self.status = status
        self.category = category
        self.code = code
        self.message = message  # None: the body has no "message" key (the 429 does this)
        self.details = details or []
        self.headers = headers or {}


def call_not_found(call_id: str) -> ApiError:
    return ApiError(
        404,
        "not-found",
        "call-not-found",
        f"The call {call_id} could not be found",
        [("callId", call_id)],
    )


def not_found(code: str, what: str, name: str, value: str) -> ApiError:
    return ApiError(
        404, "not-found", code, f"The {what} {value} could not be found", [(name, value)]
    )


def invalid_state(call_id: str, state: str) -> ApiError:
    """An operation the call's current state does not allow (the state shown in UPPER case)."""
    upper = state.upper()
    return ApiError(
        403,
        "forbidden",
        "call-invalid-state",
        f"Unable to update call {call_id}. Invalid call state {upper}",
        [("callId", call_id), ("callState", upper)],
    )


def final_state(call_id: str, state: str) -> ApiError:
    """A state change requested on a call whose state is already final."""
    upper = state.upper()
    return ApiError(
        403,
        "forbidden",
        "call-invalid-state",
        FINAL_STATE_MESSAGE.replace("{call}", call_id).replace("{state}", upper),
        [("callId", call_id), ("callState", upper)],
    )


def validation(message: str, details: list[tuple[str, str]] | None = None) -> ApiError:
    return ApiError(400, "bad-request", "validation-error", message, details)


def missing_property(resource: str, prop: str) -> ApiError:
    return ApiError(
        400,
        "bad-request",
        "missing-property",
        f"The '{resource}' resource property '{prop}' is required but was not specified",
        [("propertyName", prop)],
    )

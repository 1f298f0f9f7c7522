"""The Catapult engine's boundary: the only code that speaks HTTP to Catapult.

- `client`: the session, auth, timeouts, Link pagination, retries, response checks.
- `errors`: the few typed exceptions callers handle.
- `budget`: the request budget every process shares (rate limit and priorities).
"""

from calls.catapult.client import (
    MAX_PAGE_SIZE,
    NO_RETRY,
    CatapultClient,
    RetryPolicy,
    next_link,
)
from calls.catapult.errors import (
    BadRequest,
    CatapultError,
    ConnectionFailed,
    InvalidCallState,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "NO_RETRY",
    "BadRequest",
    "CatapultClient",
    "CatapultError",
    "ConnectionFailed",
    "InvalidCallState",
    "MalformedResponse",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "next_link",
]

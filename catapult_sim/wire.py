"""Transport-neutral request and response objects used by the route handlers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from .render import dumps
from .validation import parse_json, parse_json_value


@dataclass
class Request:
    method: str
    raw_path: str  # as sent, without the query string
    path: str  # after /v1/users/{userId} (or the whole path for /_sim), no trailing slash
    query_pairs: list[tuple[str, str]]
    body: bytes
    origin: str  # scheme://host[:port] the client used, from its Host header
    remote: str
    user_id: str = ""
    route: str = "unmatched"  # route name for statistics, e.g. "/calls/{id}/events"
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names (Range, ...)

    @property
    def query(self) -> dict[str, str]:
        return dict(self.query_pairs)  # a repeated parameter: the last one wins

    @property
    def api_base(self) -> str:
        return f"{self.origin}/v1/users/{self.user_id}"

    @property
    def request_path(self) -> str:
        """Catapult's `requestPath` error detail: no leading slash, no /v1/."""
        return self.raw_path.removeprefix("/v1/").lstrip("/")

    def json(self) -> dict:
        return parse_json(self.body)

    def json_any(self) -> object:
        return parse_json_value(self.body)

    def page_url(self, path: str, page: int, size: int) -> str:
        """Absolute URL of `path` with every query parameter of this request, for `page`."""
        pairs = [(k, v) for k, v in self.query_pairs if k not in ("page", "size")]
        pairs += [("page", str(page)), ("size", str(size))]
        # quote_via=quote: `+` -> %2B, and no bare `,` or `;` that would break Link parsers.
        return f"{self.api_base}{path}?{urlencode(pairs, quote_via=quote)}"


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    data: object = None  # the JSON value behind `body`, for the wrong_shape fault
    # Media: chunks generated while they are sent (after the lock is released) instead of
    # one body; `length` is their total, the Content-Length.
    stream: Iterable[bytes] | None = None
    length: int = 0


def json_response(data: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, dumps(data), "application/json", headers or {}, data)


def empty(status: int = 200, headers: dict | None = None) -> Response:
    """Success without a body. No Content-Type: clients parse JSON only when it is set."""
    return Response(status, b"", None, headers or {})


def link_header(request: Request, path: str, page: int, size: int) -> str:
    first = request.page_url(path, 0, size)
    following = request.page_url(path, page + 1, size)
    return f'<{first}>; rel="first",<{following}>; rel="next"'

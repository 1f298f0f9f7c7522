"""The one module that speaks HTTP to Catapult (the Bandwidth v1 Voice API).

It owns the session, the credentials, the timeouts, `Link` pagination, retries and the
mapping of error bodies to a handful of typed exceptions. Everything it returns has been
checked against the shape the API promises; anything else raises MalformedResponse, so
callers never see half-understood data. Wire facts: see the reference in the README.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from calls.catapult.budget import Priority, RateLimiter, family_of
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

log = logging.getLogger(__name__)

USER_AGENT = "catapult-dashboard/0.1 (+python-requests)"
MAX_PAGE_SIZE = 1000
CALL_STATES = ("started", "active", "rejected", "completed", "transferring", "error")


# --- Link header -------------------------------------------------------------------------


def next_link(header: str | None) -> str | None:
    """The target of the rel="next" entry of an RFC 8288 `Link` header, or None."""
    if not header:
        return None
    for entry in _split_link_entries(header):
        url_part, _, params = entry.partition(";")
        url_part = url_part.strip()
        if not (url_part.startswith("<") and url_part.endswith(">")):
            continue
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return url_part[1:-1]
    return None


def _split_link_entries(header: str) -> list[str]:
    """Split on commas that are not inside <...> (URLs may contain commas)."""
    entries, current, in_url = [], [], False
    for char in header:
        if char == "<":
            in_url = True
        elif char == ">":
            in_url = False
        if char == "," and not in_url:
            entries.append("".join(current))
            current = []
        else:
            current.append(char)
    entries.append("".join(current))
    return [entry.strip() for entry in entries if entry.strip()]


# --- Retries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How GETs are retried. Operator actions use NO_RETRY: nothing is retried silently."""

    attempts: int = 0  # extra attempts after the first, for connection errors and 5xx
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    rate_limit_waits: int = 0  # how many 429s in a row are waited out
    max_rate_limit_wait: float = 120.0  # a reset further away than this is not waited for

    def backoff(self, attempt: int) -> float:
        # Full jitter: spreads the retries of several workers hitting the same outage.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))


NO_RETRY = RetryPolicy()


# --- The client --------------------------------------------------------------------------


class CatapultClient:
    def __init__(
        self,
        base_url: str,
        user_id: str,
        api_token: str,
        api_secret: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry: RetryPolicy = NO_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
        level: Priority = Priority.LIVE,
        health=None,
    ):
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry
        self.sleep = sleep
        self.limiter = limiter
        # Whose request this is: decides its place in the shared budget. The planner
        # changes it between the phases of a cycle (see `at`).
        self.level = level
        self.health = health  # records successes and failures for the status line
        self.requests_made = 0
        self.rate_limited = 0  # 429s that came anyway (waited out or raised)
        self.failures = 0  # requests that failed: connection errors, 5xx, bad bodies
        # Items of a list that could not be used at all (no id): left out, counted.
        self.skipped_items: list[str] = []
        self.next_page_url: str | None = None  # see list_calls
        self.successes = 0  # requests answered with a usable 2xx
        self.settings_key: tuple = ()  # see for_operators
        self.session = requests.Session()
        self.session.auth = (api_token, api_secret)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        # Never let requests pick up credentials from ~/.netrc or proxies from the env
        # in a way that could send our token somewhere else.
        self.session.trust_env = False

    def __repr__(self) -> str:  # never show the credentials
        return f"<CatapultClient {self.base_url} user={self.user_id}>"

    @classmethod
    def from_settings(
        cls, *, retry: RetryPolicy = NO_RETRY, level: Priority = Priority.LIVE
    ) -> CatapultClient:
        """A client configured from settings, spending the shared budget at `level`."""
        from django.conf import settings

        from calls.catapult.health import HealthRecorder
        from calls.locks import redis_client

        limiter = None
        if settings.CATAPULT_RATE_LIMIT > 0:
            limiter = RateLimiter(
                redis_client(),
                settings.CATAPULT_RATE_LIMIT,
                burst=settings.CATAPULT_RATE_BURST,
                margin_ms=settings.CATAPULT_RATE_MARGIN_MS,
            )
        return cls(
            settings.CATAPULT_BASE_URL,
            settings.CATAPULT_USER_ID,
            settings.CATAPULT_API_TOKEN,
            settings.CATAPULT_API_SECRET,
            connect_timeout=settings.CATAPULT_CONNECT_TIMEOUT,
            read_timeout=settings.CATAPULT_READ_TIMEOUT,
            retry=retry,
            limiter=limiter,
            level=level,
            health=HealthRecorder(redis_client()),
        )

    @classmethod
    def for_operators(cls, level: Priority, *, retry: RetryPolicy = NO_RETRY) -> CatapultClient:
        """This thread's client for requests an operator makes or waits on, kept between
        requests so its HTTP session (and connection to Catapult) is reused."""
        cache = _operator_clients.__dict__.setdefault("by_key", {})
        key = (level, retry)
        client = cache.get(key)
        if client is None or client.settings_key != _settings_key():
            client = cls.from_settings(level=level, retry=retry)
            client.settings_key = _settings_key()
            cache[key] = client
        return client

    def close(self) -> None:
        self.session.close()

    @contextlib.contextmanager
    def at(self, level: Priority) -> Iterator[CatapultClient]:
        """Spend this block's requests at `level` of the shared budget."""
        before, self.level = self.level, level
        try:
            yield self
        finally:
            self.level = before

    # -- operations ---------------------------------------------------------------------

    def list_calls(
        self,
        *,
        bridge_id: str | None = None,
        conference_id: str | None = None,
        from_: str | None = None,
        to: str | None = None,
        page: int | None = None,
        size: int | None = None,
        sort_order: str | None = None,
        max_pages: int | None = None,
        start_url: str | None = None,
    ) -> Iterator[list[dict]]:
        """Yield pages of calls, following `Link: <...>; rel="next"` exactly as given.

        Before each page is yielded, `next_page_url` holds the link to the page after it
        (None on the last page): a walk can stop and later go on from there, `start_url`.
        """
        if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be 1..{MAX_PAGE_SIZE}")
        if sort_order not in (None, "asc", "desc"):
            raise ValueError("sort_order must be 'asc' or 'desc'")
        params = {
            "bridgeId": bridge_id,
            "conferenceId": conference_id,
            "from": from_,
            "to": to,
            "page": page,
            "size": size,
            "sortOrder": sort_order,
        }
        seen_urls: set[str] = set()
        if start_url:
            url: str | None = self._follow(self.base_url, start_url, seen_urls)
            query: dict | None = None
        else:
            url = self._url("calls")
            query = {k: v for k, v in params.items() if v is not None}
        pages = 0
        while url:
            response, calls = self._send("GET", url, params=query, parse=self._call_list)
            target = next_link(response.headers.get("Link"))
            url = self._follow(response.url, target, seen_urls) if target else None
            self.next_page_url = url
            query = None  # the next link carries every parameter itself
            yield calls
            pages += 1
            if max_pages is not None and pages >= max_pages:
                return

    def get_call(self, call_id: str) -> dict:
        url = self._url("calls", call_id)
        return self._send("GET", url, parse=lambda r: _check_call(_json(r), "call"))[1]

    def list_events(self, call_id: str) -> list[dict]:
        url = self._url("calls", call_id, "events")
        return self._send("GET", url, parse=self._event_list)[1]

    def get_event(self, call_id: str, event_id: str) -> dict:
        url = self._url("calls", call_id, "events", event_id)
        return self._send("GET", url, parse=lambda r: _check_event(_json(r), "event"))[1]

    def list_recordings(self, call_id: str) -> list[dict]:
        url = self._url("calls", call_id, "recordings")
        return self._send("GET", url, parse=self._recording_list)[1]

    def call_id_of_recording(self, recording_id: str) -> str:
        """The id of the call a recording belongs to (from the recording's `call` URL)."""
        url = self._url("recordings", recording_id)
        recording = self._send("GET", url, parse=lambda r: _check_recording(_json(r), "recording"))[
            1
        ]
        call_url = recording.get("call")
        if not isinstance(call_url, str) or "/calls/" not in call_url:
            raise MalformedResponse("The recording does not say which call it belongs to")
        return call_url.rstrip("/").rsplit("/", 1)[-1]

    def list_account_recordings(
        self, *, size: int | None = None, start_url: str | None = None
    ) -> Iterator[list[dict]]:
        """Yield pages of the account's recordings, newest first (GET /recordings; its own
        rate-limit family), following the API's next links. `next_page_url` as in
        list_calls."""
        if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be 1..{MAX_PAGE_SIZE}")
        seen_urls: set[str] = set()
        if start_url:
            url: str | None = self._follow(self.base_url, start_url, seen_urls)
            query: dict | None = None
        else:
            url = self._url("recordings")
            query = {"size": size} if size else None
        while url:
            response, recordings = self._send("GET", url, params=query, parse=self._recording_list)
            target = next_link(response.headers.get("Link"))
            url = self._follow(response.url, target, seen_urls) if target else None
            self.next_page_url = url
            query = None
            yield recordings

    def get_recording(self, recording_id: str) -> dict:
        url = self._url("recordings", recording_id)
        return self._send("GET", url, parse=lambda r: _check_recording(_json(r), "recording"))[1]

    def open_media(
        self, name: str, *, byte_range: str | None = None, wait_seconds: float = 10.0
    ) -> MediaStream:
        """Open a streamed GET of a media file (`/media/{name}`), passing `byte_range` on as
        the Range header. The body is not read: the caller streams it and closes it.

        200, 206 and 416 are answers (416: the range lies outside the file); everything
        else raises the usual typed exceptions. The request waits at most `wait_seconds`
        for a token of the media family's budget (an operator is waiting), else raises
        RateLimited. Never retried: a browser asks again by itself.
        """
        url = self._url("media", name)
        family = family_of(urlsplit(url).path)
        if self.limiter is not None and not self.limiter.acquire(
            family, self.level, timeout=wait_seconds
        ):
            self.rate_limited += 1
            raise RateLimited("The media budget is busy; try again in a moment")
        # identity: iter_content() would undo a gzip encoding while Content-Length and
        # Content-Range, passed on to the browser, count the encoded bytes.
        headers = {"Accept": "audio/*, */*;q=0.5", "Accept-Encoding": "identity"}
        if byte_range:
            headers["Range"] = byte_range
        self.requests_made += 1
        try:
            response = self.session.get(
                url, headers=headers, timeout=self.timeout, stream=True, allow_redirects=False
            )
        except requests.Timeout:
            self._counted(family, "timeout")
            raise ConnectionFailed("The Catapult API did not answer in time") from None
        except requests.RequestException:
            self._counted(family, "unreachable")
            raise ConnectionFailed("The Catapult API could not be reached") from None
        self._counted(family, str(response.status_code))
        if response.status_code in (200, 206, 416):
            if self.health:
                self.health.ok()
            return MediaStream(response)
        try:
            _ = response.content  # an error body is small: read it for its message
            _raise_for_error(response)
        except RateLimited:
            self.rate_limited += 1
            raise
        except (ServerError, ConnectionFailed) as exc:
            self.failures += 1
            if self.health:
                self.health.failed(str(exc))
            raise
        except requests.RequestException:
            raise ConnectionFailed("The Catapult API's answer was cut off") from None
        finally:
            response.close()
        # A redirect or another success code: not what the media resource promises.
        raise MalformedResponse(f"Unexpected HTTP {response.status_code} for a media file")

    def update_call(
        self,
        call_id: str,
        *,
        state: str | None = None,
        recording_enabled: bool | None = None,
        recording_file_format: str | None = None,
        transfer_to: str | None = None,
        transfer_caller_id: str | None = None,
        whisper_audio: dict | None = None,
        callback_url: str | None = None,
    ) -> str | None:
        """Change a call. Returns the new call's id for a transfer, else None."""
        if state is not None and state not in ("active", "rejected", "completed", "transferring"):
            raise ValueError(f"cannot request state {state!r}")
        body = _drop_none(
            {
                "state": state,
                "recordingEnabled": recording_enabled,
                "recordingFileFormat": recording_file_format,
                "transferTo": transfer_to,
                "transferCallerId": transfer_caller_id,
                "whisperAudio": whisper_audio,
                "callbackUrl": callback_url,
            }
        )
        if not body:
            raise ValueError("nothing to update")
        response, _ = self._send("POST", self._url("calls", call_id), json_body=body)
        if state == "transferring" or response.status_code == 201:
            return _id_from_location(response)
        return None

    def create_call(self, *, from_: str, to: str, **options: Any) -> str:
        """Place an outbound call. `options` use the API's camelCase names. Returns its id."""
        body = _drop_none({"from": from_, "to": to, **options})
        response, _ = self._send("POST", self._url("calls"), json_body=body)
        return _id_from_location(response)

    # -- plumbing -----------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        for part in parts:
            if not part or "/" in part or part in (".", ".."):
                raise ValueError(f"bad path segment {part!r}")
        return "/".join([self.base_url, "v1", "users", self.user_id, *parts])

    def _follow(self, current: str, target: str, seen: set[str]) -> str:
        url = urljoin(current, target)
        # The credentials go wherever the link points: only follow links to our API.
        if _origin(url) != _origin(self.base_url):
            raise MalformedResponse("The API's next-page link points to another server")
        if url in seen:
            raise MalformedResponse("The API's next-page link repeats a page already read")
        seen.add(url)
        return url

    # Lists: items without a usable id are left out and counted, not fatal to the page.
    def _call_list(self, response: requests.Response) -> list[dict]:
        return self._usable_items(_json(response), "call list")

    def _event_list(self, response: requests.Response) -> list[dict]:
        return self._usable_items(_json(response), "event list")

    def _recording_list(self, response: requests.Response) -> list[dict]:
        return self._usable_items(_json(response), "recording list")

    def _usable_items(self, data: Any, what: str) -> list[dict]:
        if not isinstance(data, list):
            raise MalformedResponse(
                f"The Catapult API sent a {type(data).__name__} where a {what} was due"
            )
        usable = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                usable.append(item)
            elif len(self.skipped_items) < 100:  # a long-lived client keeps only the first
                self.skipped_items.append(f"an item of the {what} has no id")
        return usable

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict | None = None,
        json_body: dict | None = None,
        parse: Callable[[requests.Response], Any] | None = None,
    ) -> tuple[requests.Response, Any]:
        """One logical request, with the retry policy for GETs and 429s.

        `parse` turns the body into the value returned beside the response. A GET whose
        body cannot be used (cut short, not JSON) is a transport fault, retried like a 5xx.
        """
        attempt = 0
        rate_waits = 0
        while True:
            try:
                response = self._send_once(method, url, params=params, json_body=json_body)
                _raise_for_error(response)
                value = parse(response) if parse else None
                self.successes += 1
                if self.health:
                    self.health.ok()
                return response, value
            except RateLimited as exc:
                self.rate_limited += 1
                wait = _seconds_until(exc.reset_at)
                if (
                    rate_waits >= self.retry.rate_limit_waits
                    or wait > self.retry.max_rate_limit_wait
                ):
                    raise
                rate_waits += 1
                log.info("Rate limited by the API; waiting %.1f s until its reset", wait)
                self.sleep(wait)
            except (ConnectionFailed, ServerError, MalformedResponse) as exc:
                self.failures += 1
                if self.health and not isinstance(exc, MalformedResponse):
                    self.health.failed(str(exc))
                # Only GETs are retried: a POST that timed out may have been carried out.
                if method != "GET" or attempt >= self.retry.attempts:
                    raise
                delay = self.retry.backoff(attempt)
                attempt += 1
                log.info("API request failed (%s); retry %d in %.1f s", exc, attempt, delay)
                self.sleep(delay)
            except CatapultError:
                if self.health:
                    self.health.ok()  # a refusal is an answer: the API is there
                raise

    def _send_once(
        self, method: str, url: str, *, params: dict | None, json_body: dict | None
    ) -> requests.Response:
        if self.limiter is not None:
            self.limiter.acquire(family_of(urlsplit(url).path), self.level)
        self.requests_made += 1
        family = family_of(urlsplit(url).path)
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            self._counted(family, "timeout")
            raise ConnectionFailed("The Catapult API did not answer in time") from None
        except requests.ConnectionError:
            self._counted(family, "unreachable")
            raise ConnectionFailed("The Catapult API could not be reached") from None
        except requests.RequestException as exc:
            self._counted(family, "failed")
            raise ConnectionFailed(
                f"Request to the Catapult API failed ({type(exc).__name__})"
            ) from None
        self._counted(family, str(response.status_code))
        return response

    def _counted(self, family: str, status: str) -> None:
        if self.health is not None:  # a client made from settings: the shared metrics
            from calls import metrics

            metrics.count_often("catapult_api_requests_total", family=family, status=status)


class MediaStream:
    """An open media response from Catapult: status, the headers worth passing on, and
    the body in chunks as it arrives. Close it when done (also when the browser left)."""

    PASSED_HEADERS = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges")

    def __init__(self, response: requests.Response):
        self._response = response
        self.status = response.status_code
        self.headers = {
            name: response.headers[name] for name in self.PASSED_HEADERS if name in response.headers
        }

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        try:
            yield from self._response.iter_content(chunk_size=size)
        except requests.RequestException:
            # Cut off mid-file: the browser sees a short body and asks for the rest.
            log.info("A media download from the API was cut off")

    def close(self) -> None:
        self._response.close()


_operator_clients = threading.local()


def _settings_key() -> tuple:
    """What a cached client was made from: settings changed (tests do) means a new one."""
    from django.conf import settings

    return (
        settings.CATAPULT_BASE_URL,
        settings.CATAPULT_USER_ID,
        settings.CATAPULT_API_TOKEN,
        settings.CATAPULT_API_SECRET,
        settings.CATAPULT_RATE_LIMIT,
        settings.REDIS_URL,
    )


# --- Response checks ---------------------------------------------------------------------


def _raise_for_error(response: requests.Response) -> requests.Response:
    status = response.status_code
    if status in (200, 201, 202):
        return response
    body = _error_body(response)
    code = str(body.get("code") or "")
    category = str(body.get("category") or "")
    message = str(body.get("message") or "").strip()
    details = body.get("details") if isinstance(body.get("details"), list) else []
    kwargs = {"status": status, "code": code, "category": category, "details": details}
    if status == 429 or code == "call-rate-limit":
        text = message or "The Catapult API's rate limit was reached"
        raise RateLimited(text, reset_at=_reset_header(response), **kwargs)
    if status == 404:
        raise NotFound(message or "Not found", **kwargs)
    if code == "call-invalid-state":
        raise InvalidCallState(message or "The call's state does not allow this", **kwargs)
    if status == 400:
        raise BadRequest(message or "The API rejected the request as invalid", **kwargs)
    if status >= 500:
        raise ServerError(message or f"The Catapult API failed (HTTP {status})", **kwargs)
    if status in (401, 403) and not message:
        message = "The Catapult API refused the credentials or the request"
    raise CatapultError(message or f"Unexpected HTTP {status} from the Catapult API", **kwargs)


def _error_body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reset_header(response: requests.Response) -> float | None:
    raw = response.headers.get("X-RateLimit-Reset")
    if raw is None:
        return None
    try:
        return int(raw.strip()) / 1000.0  # epoch milliseconds on the wire
    except ValueError:
        return None


def _seconds_until(reset_at: float | None) -> float:
    if reset_at is None:
        return 1.0  # no reset given: Catapult's default limit is 1 request per second
    # A small margin: the reset is when the window opens, not a moment before.
    return max(0.0, reset_at - time.time()) + 0.05


def _json(response: requests.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise MalformedResponse(
            f"The Catapult API answered HTTP {response.status_code} with a body that is not JSON"
        ) from None


# Single resources need an id; everything else about them is judged field by field in
# calls.sync.payloads, which keeps what it can of an odd record.
def _check_call(item: Any, what: str) -> dict:
    _require(item, what, {"id": str})
    return item


def _check_event(item: Any, what: str) -> dict:
    _require(item, what, {"id": str})
    return item


def _check_recording(item: Any, what: str) -> dict:
    _require(item, what, {"id": str})
    return item


def _require(item: Any, what: str, fields: dict[str, type]) -> None:
    if not isinstance(item, dict):
        raise MalformedResponse(f"The {what} from the Catapult API holds a non-object item")
    for name, kind in fields.items():
        if not isinstance(item.get(name), kind) or not item.get(name):
            raise MalformedResponse(f"An item of the {what} lacks a valid '{name}'")


def _id_from_location(response: requests.Response) -> str:
    location = response.headers.get("Location", "")
    new_id = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    if not new_id:
        raise MalformedResponse("The Catapult API did not say where the new call is (no Location)")
    return new_id


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _drop_none(body: dict) -> dict:
    return {key: value for key, value in body.items() if value is not None}

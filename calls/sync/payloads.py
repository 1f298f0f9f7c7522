"""Turn Catapult JSON into model field values, keeping what can be kept of odd records.

Lenient about forms (the API writes times three ways, and sends booleans and numbers as
strings in places) and forgiving about content: a record the database cannot store as
sent (NUL characters, an unknown state, an unparseable time, an over-long string) is
stored with what can be kept, and what was odd is listed in its `oddities`, with the
payload as received kept beside it. One odd record never stops the sync.
"""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from calls.catapult import MalformedResponse
from calls.models import Call
from calls.numbers import digits

KNOWN_STATES = {choice.value for choice in Call.State}
STATE_LENGTH = Call._meta.get_field("state").max_length
ID_LENGTH = Call._meta.get_field("catapult_id").max_length


def parse_time(value: Any, field: str) -> datetime | None:
    """ISO-8601 (with Z, milliseconds or an offset like -03) or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedResponse(f"'{field}' is not a time")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedResponse(f"'{field}' is not a time") from None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_time(int(text), field)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise MalformedResponse(f"'{field}' is not a time: {text[:40]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # the API's times are UTC
        return parsed.astimezone(UTC)
    raise MalformedResponse(f"'{field}' is not a time")


def redact_url(url: str) -> str:
    """Replace the password of a URL's userinfo with *** (callback credentials)."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:  # not a URL we can take apart: hide everything before the @
        return "***@" + url.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc))


def sanitize(payload: dict) -> dict:
    """The payload as we store it: callback passwords removed."""
    clean = dict(payload)
    for key in ("callbackUrl", "fallbackUrl"):
        if isinstance(clean.get(key), str):
            clean[key] = redact_url(clean[key])
    return clean


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def without_nul(value: Any) -> Any:
    """The value with every NUL replaced by U+FFFD: no database stores NUL in text."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


class _Reader:
    """Reads fields of one payload, noting each oddity instead of raising."""

    def __init__(self, payload: dict):
        self.oddities: list[str] = []
        if has_nul(payload):
            self.oddities.append("NUL characters replaced by U+FFFD")
            payload = without_nul(payload)
        self.payload = payload

    def note(self, text: str) -> None:
        self.oddities.append(text[:200])

    def text(self, key: str, limit: int | None = None) -> str:
        value = self.payload.get(key)
        if value is None:
            return ""
        if isinstance(value, dict | list):
            self.note(f"'{key}' is not text; stored as JSON")
            value = json.dumps(value)
        text = str(value)
        if limit and len(text) > limit:
            self.note(f"'{key}' is {len(text)} characters; the first {limit} are kept")
            text = text[:limit]
        return text

    def time(self, key: str) -> datetime | None:
        try:
            return parse_time(self.payload.get(key), key)
        except MalformedResponse as exc:
            self.note(str(exc))
            return None

    def flag(self, key: str) -> bool:
        value = self.payload.get(key)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.note(f"'{key}' should be true or false, not {str(value)[:20]!r}")
        return False

    def count(self, key: str) -> int | None:
        value = self.payload.get(key)
        if value is None or value == "":
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            self.note(f"'{key}' should be a number, not {str(value)[:20]!r}")
            return None
        if number < 0 or number > 2**31 - 1:
            self.note(f"'{key}' is out of range")
            return None
        return number


def call_fields(payload: dict, *, fallback_time: datetime | None = None) -> dict:
    """Model fields of Call from one call resource (already checked to have an id).

    `fallback_time` stands in for a startTime that is missing or does not parse (the
    column cannot be empty: it orders every list); the first-seen time is the honest one.
    """
    read = _Reader(payload)
    sip_headers = read.payload.get("sipHeaders") or {}
    if not isinstance(sip_headers, dict):
        read.note("'sipHeaders' is not an object; left out")
        sip_headers = {}
    from_number = read.text("from", 255)
    to_number = read.text("to", 255)
    start_time = read.time("startTime")
    if start_time is None:
        if read.payload.get("startTime") in (None, ""):
            read.note("The call has no startTime")
        start_time = fallback_time or datetime.now(UTC)
        read.note("startTime stands in as the time the call was first seen")
    active_time = read.time("activeTime")
    end_time = read.time("endTime")
    duration = None
    if active_time and end_time and end_time >= active_time:
        duration = int((end_time - active_time).total_seconds())
    direction = read.text("direction")
    if direction not in ("", "in", "out"):
        read.note(f"Unknown direction {direction[:20]!r}")
        direction = ""
    state = read.text("state")
    if state not in KNOWN_STATES:
        read.note(f"Unknown state {state[:40]!r}; shown as sent" if state else "No state")
    if len(state) > STATE_LENGTH:
        state = state[:STATE_LENGTH]
    catapult_id = read.payload["id"]
    if len(catapult_id) > ID_LENGTH:
        read.note(f"The id is {len(catapult_id)} characters; the first {ID_LENGTH} are kept")
        catapult_id = catapult_id[:ID_LENGTH]
    fields = {
        "catapult_id": catapult_id,
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "from_digits": digits(from_number)[:32],
        "to_digits": digits(to_number)[:32],
        "from_digits_rev": digits(from_number)[:32][::-1],
        "to_digits_rev": digits(to_number)[:32][::-1],
        "state": state,
        "start_time": start_time,
        "active_time": active_time,
        "end_time": end_time,
        "chargeable_duration": read.count("chargeableDuration"),
        "duration": duration,
        "call_timeout": read.count("callTimeout"),
        "callback_url": redact_url(read.text("callbackUrl")),
        "callback_http_method": read.text("callbackHttpMethod", 8),
        "callback_timeout": read.count("callbackTimeout"),
        "fallback_url": redact_url(read.text("fallbackUrl")),
        "recording_enabled": read.flag("recordingEnabled"),
        "recording_file_format": read.text("recordingFileFormat", 8),
        "transcription_enabled": read.flag("transcriptionEnabled"),
        "tag": read.text("tag"),
        "sip_headers": sip_headers,
        "bridge_id": read.text("bridgeId", 64),
        "conference_id": read.text("conferenceId", 64),
        "raw": sanitize(read.payload),
    }
    fields["oddities"] = read.oddities
    # The payload as received (JSON text: NUL survives as the escape \u0000).
    fields["raw_original"] = json.dumps(sanitize(payload)) if read.oddities else ""
    return fields


def event_fields(payload: dict, *, fallback_time: datetime | None = None) -> dict:
    """Model fields of CallEvent from one event (already checked to have an id)."""
    read = _Reader(payload)
    time = read.time("time")
    if time is None:
        read.note("The event's time is missing or not a time; the time it was read is shown")
        time = fallback_time or datetime.now(UTC)
    name = read.text("name", 64) or "unnamed"
    data = read.payload.get("data")
    if data is None:
        raw, parsed = "", None
    elif isinstance(data, str):
        raw, parsed = data, _json_or_none(data)
    else:  # some clients document data as an object: keep both forms
        raw, parsed = json.dumps(data), data
    return {
        "catapult_id": read.payload["id"][:64],
        "name": name,
        "time": time,
        "data": raw,
        "data_json": parsed,
        "oddity": "; ".join(read.oddities)[:200],
    }


def _json_or_none(text: str) -> Any:
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None

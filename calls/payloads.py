"""Turn Catapult JSON into model field values, or refuse it as malformed.

Everything here is strict about types (a call whose startTime is not a time is
malformed) and lenient about forms (the API writes times three ways, and sends
booleans and numbers as strings in places).
"""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from calls.catapult import MalformedResponse
from calls.numbers import digits


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


def _text(payload: dict, key: str, limit: int | None = None) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise MalformedResponse(f"'{key}' should be text")
    text = str(value)
    return text[:limit] if limit else text


def _bool(payload: dict, key: str) -> bool:
    value = payload.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MalformedResponse(f"'{key}' should be true or false")


def _count(payload: dict, key: str) -> int | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedResponse(f"'{key}' should be a number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise MalformedResponse(f"'{key}' should be a number") from None
    if number < 0 or number > 2**31 - 1:
        raise MalformedResponse(f"'{key}' is out of range")
    return number


def redact_url(url: str) -> str:
    """Replace the password of a URL's userinfo with *** (callback credentials)."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def sanitize(payload: dict) -> dict:
    """The payload as we store it: callback passwords removed."""
    clean = dict(payload)
    for key in ("callbackUrl", "fallbackUrl"):
        if isinstance(clean.get(key), str):
            clean[key] = redact_url(clean[key])
    return clean


def _refuse_nul(payload: dict) -> None:
    # No database stores NUL in text (PostgreSQL refuses it): such data is not a call.
    if _has_nul(payload):
        raise MalformedResponse("The Catapult API sent text containing NUL characters")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def call_fields(payload: dict) -> dict:
    """Model fields of Call from one call resource (already checked to have id and state)."""
    _refuse_nul(payload)
    sip_headers = payload.get("sipHeaders") or {}
    if not isinstance(sip_headers, dict):
        raise MalformedResponse("'sipHeaders' should be an object")
    from_number = _text(payload, "from", 255)
    to_number = _text(payload, "to", 255)
    start_time = parse_time(payload.get("startTime"), "startTime")
    if start_time is None:
        raise MalformedResponse("A call has no startTime")
    active_time = parse_time(payload.get("activeTime"), "activeTime")
    end_time = parse_time(payload.get("endTime"), "endTime")
    duration = None
    if active_time and end_time and end_time >= active_time:
        duration = int((end_time - active_time).total_seconds())
    direction = _text(payload, "direction")
    if direction not in ("", "in", "out"):
        raise MalformedResponse("'direction' should be in or out")
    return {
        "catapult_id": payload["id"][:64],
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "from_digits": digits(from_number)[:32],
        "to_digits": digits(to_number)[:32],
        "from_digits_rev": digits(from_number)[:32][::-1],
        "to_digits_rev": digits(to_number)[:32][::-1],
        "state": payload["state"][:16],
        "start_time": start_time,
        "active_time": active_time,
        "end_time": end_time,
        "chargeable_duration": _count(payload, "chargeableDuration"),
        "duration": duration,
        "call_timeout": _count(payload, "callTimeout"),
        "callback_url": redact_url(_text(payload, "callbackUrl")),
        "callback_http_method": _text(payload, "callbackHttpMethod", 8),
        "callback_timeout": _count(payload, "callbackTimeout"),
        "fallback_url": redact_url(_text(payload, "fallbackUrl")),
        "recording_enabled": _bool(payload, "recordingEnabled"),
        "recording_file_format": _text(payload, "recordingFileFormat", 8),
        "transcription_enabled": _bool(payload, "transcriptionEnabled"),
        "tag": _text(payload, "tag"),
        "sip_headers": sip_headers,
        "bridge_id": _text(payload, "bridgeId", 64),
        "conference_id": _text(payload, "conferenceId", 64),
        "raw": sanitize(payload),
    }


def event_fields(payload: dict) -> dict:
    """Model fields of CallEvent from one event (already checked to have id, name, time)."""
    _refuse_nul(payload)
    time = parse_time(payload.get("time"), "time")
    if time is None:
        raise MalformedResponse("An event has no time")
    data = payload.get("data")
    if data is None:
        raw, parsed = "", None
    elif isinstance(data, str):
        raw, parsed = data, _json_or_none(data)
    else:  # some clients document data as an object: keep both forms
        raw, parsed = json.dumps(data), data
    return {
        "catapult_id": payload["id"][:64],
        "name": payload["name"][:64],
        "time": time,
        "data": raw,
        "data_json": parsed,
    }


def _json_or_none(text: str) -> Any:
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None

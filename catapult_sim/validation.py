"""Request-body parsing and validation.

Clients send bodies in several dialects: the Python SDK sends every optional key with
JSON null, the docs' curl examples send booleans and numbers as strings ("true", "5").
All are accepted: null means "not given", and strings are coerced. Everything else that
does not fit is a 400 with a message naming the property.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from .errors import ApiError, missing_property, validation

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
SIP_URI = re.compile(r"^sip:[^@\s]+@[^@\s]+$", re.IGNORECASE)
DTMF = re.compile(r"^[A-D0-9#*,wW]{1,92}$")
CALL_STATES = ("active", "rejected", "completed", "transferring")
FILE_FORMATS = ("wav", "mp3")
MAX_RECORDING_SECONDS = 3600
MAX_HEADER_LENGTH = 256


def parse_json_value(raw: bytes) -> object:
    """Any JSON value; an empty body is None."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise validation(f"Bad parameters: the request body is not valid JSON ({exc})") from exc


def parse_json(raw: bytes) -> dict:
    """An empty body is an empty object; anything but a JSON object is a 400."""
    body = parse_json_value(raw)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation("Bad parameters: the request body must be a JSON object")
    return body


class Body:
    """Typed access to a request body for one resource ("call", "audio", ...)."""

    def __init__(self, data: dict, resource: str) -> None:
        self.data = data
        self.resource = resource

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def _bad(self, name: str, expected: str) -> ApiError:
        value = self.data.get(name)
        return validation(
            f"The '{self.resource}' resource property '{name}' must be {expected}",
            [(name, str(value))],
        )

    def string(self, name: str, *, required: bool = False, max_length: int | None = None):
        value = self.data.get(name)
        if value is None:
            if required:
                raise missing_property(self.resource, name)
            return None
        if isinstance(value, bool | dict | list):
            raise self._bad(name, "a string")
        value = str(value)
        if max_length is not None and len(value) > max_length:
            raise validation(
                f"The '{self.resource}' resource property '{name}' exceeds the limit of "
                f"{max_length} characters",
                [(name, value[:40])],
            )
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise self._bad(name, "true or false")

    def integer(self, name: str, *, low: int | None = None, high: int | None = None):
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)
        ):
            number = int(value)
        else:
            raise self._bad(name, "a number")
        if (low is not None and number < low) or (high is not None and number > high):
            raise self._bad(name, f"between {low} and {high}")
        return number

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered not in choices:
            listed = ", ".join(f"'{c}'" for c in choices)
            raise validation(
                f"The '{self.resource}' resource property '{name}' must be one of the "
                f"following values: {listed}",
                [(name, value)],
            )
        return lowered

    def url(self, name: str) -> str | None:
        value = self.string(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(
                400,
                "bad-request",
                "callback-invalid-url",
                f"The '{self.resource}' resource property '{name}' is not a valid URL",
                [(name, value)],
            )
        return value

    def obj(self, name: str) -> dict | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise self._bad(name, "an object") from None
        if not isinstance(value, dict):
            raise self._bad(name, "an object")
        return value


def check_number(value: str, name: str, allow_sip: bool = True) -> str:
    if value.lower().startswith("sips:"):
        raise validation("SIPS URIs are not supported", [(name, value)])
    if E164.match(value) or (allow_sip and SIP_URI.match(value)):
        return value
    raise ApiError(400, "bad-request", "validation-error", "Invalid phone number", [(name, value)])


def callback_timeout(body: Body) -> int | None:
    value = body.integer("callbackTimeout")
    if value is None:
        return None
    if value <= 0:
        raise validation(
            "The 'callbackTimeout' must be greater than 0", [("callbackTimeout", str(value))]
        )
    if value > 10_000:
        raise validation(
            "The 'callbackTimeout' must not surpass 10000", [("callbackTimeout", str(value))]
        )
    return value


def recording_max(body: Body) -> int | None:
    value = body.integer("recordingMaxDuration")
    if value is None:
        return None
    if value < 1:
        raise validation(
            "The 'recordingMaxDuration' must be greater than 0",
            [("recordingMaxDuration", str(value))],
        )
    if value > MAX_RECORDING_SECONDS:
        raise ApiError(
            403,
            "forbidden",
            "maximum-recording-value-request",
            f"The recordingMaxDuration cannot be greater than {MAX_RECORDING_SECONDS} seconds",
            [("recordingMaxDuration", str(value))],
        )
    return value


def sip_headers(body: Body) -> dict[str, str] | None:
    headers = body.obj("sipHeaders")
    if headers is None:
        return None
    if len(headers) > 5:
        raise validation(
            "A call may carry at most 5 SIP headers", [("sipHeaders", str(len(headers)))]
        )
    clean: dict[str, str] = {}
    for key, value in headers.items():
        if not key.lower().startswith("x-"):
            raise validation(f"SIP header {key} must start with X-", [("sipHeader", key)])
        if value is None or isinstance(value, dict | list):
            raise validation(f"SIP header {key} must have a string value", [("sipHeader", key)])
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(key) > MAX_HEADER_LENGTH or len(text) > MAX_HEADER_LENGTH:
            raise validation(
                f"SIP header {key} exceeds the limit of {MAX_HEADER_LENGTH} characters",
                [("sipHeader", key[:40])],
            )
        clean[key] = text
    return clean


def create_call(data: dict, account_numbers: list[str], user_id: str) -> dict:
    """Validate POST /calls; return normalized fields."""
    body = Body(data, "call")
    from_ = check_number(body.string("from", required=True), "from", allow_sip=False)
    to = check_number(body.string("to", required=True), "to")
    if from_ not in account_numbers:
        raise ApiError(
            403,
            "authorization",
            "number-access-denied",
            f"User {user_id} does not have permission to use number {from_}",
            [("from", from_)],
        )
    return {
        "from": from_,
        "to": to,
        "callTimeout": body.integer("callTimeout", low=1, high=300),
        "callbackUrl": body.url("callbackUrl"),
        "callbackHttpMethod": _method(body),
        "callbackTimeout": callback_timeout(body),
        "fallbackUrl": body.url("fallbackUrl"),
        "bridgeId": body.string("bridgeId"),
        "conferenceId": body.string("conferenceId"),
        "recordingEnabled": body.boolean("recordingEnabled"),
        "recordingFileFormat": body.choice("recordingFileFormat", FILE_FORMATS),
        "recordingMaxDuration": recording_max(body),
        "transcriptionEnabled": body.boolean("transcriptionEnabled"),
        "tag": body.string("tag", max_length=256),
        "sipHeaders": sip_headers(body),
    }


def _method(body: Body) -> str | None:
    value = body.choice("callbackHttpMethod", ("get", "post"))
    return value.upper() if value else None


def update_call(data: dict) -> dict:
    """Validate POST /calls/{id}; return only the properties that were given."""
    body = Body(data, "call")
    fields = {
        "state": body.choice("state", CALL_STATES),
        "recordingEnabled": body.boolean("recordingEnabled"),
        "recordingFileFormat": body.choice("recordingFileFormat", FILE_FORMATS),
        "recordingMaxDuration": recording_max(body),
        "transferTo": body.string("transferTo"),
        "transferCallerId": body.string("transferCallerId"),
        "whisperAudio": body.obj("whisperAudio"),
        "callbackUrl": body.url("callbackUrl"),
        "tag": body.string("tag", max_length=256),
    }
    if fields["state"] == "transferring":
        if fields["transferTo"] is None:
            raise missing_property("call", "transferTo")
        check_number(fields["transferTo"], "transferTo")
    return {k: v for k, v in fields.items() if v is not None}


def audio(data: dict) -> dict:
    body = Body(data, "audio")
    file_url = body.string("fileUrl")
    sentence = body.string("sentence", max_length=1000)
    if file_url is None and sentence is None:
        raise missing_property("audio", "fileUrl")
    if file_url is not None and sentence is not None:
        raise validation("Give either 'fileUrl' or 'sentence', not both")
    return {
        "fileUrl": file_url,
        "sentence": sentence,
        "gender": body.choice("gender", ("male", "female")),
        "locale": body.string("locale"),
        "voice": body.string("voice"),
        "loopEnabled": bool(body.boolean("loopEnabled")),
        "tag": body.string("tag", max_length=256),
        "volume": body.integer("volume", low=-4, high=4),
    }


def dtmf(data: dict) -> str:
    body = Body(data, "dtmf")
    digits = body.string("dtmfOut", required=True)
    if not DTMF.match(digits):
        raise validation(
            "The 'dtmfOut' must be 1 to 92 characters of 0-9, A-D, #, *, ',', w or W",
            [("dtmfOut", digits)],
        )
    return digits


def gather(data: dict) -> dict:
    body = Body(data, "gather")
    terminating = body.string("terminatingDigits")
    if terminating is not None and terminating == "":
        raise validation("The 'terminatingDigits' cannot be empty")
    prompt = body.obj("prompt")
    return {
        "maxDigits": body.integer("maxDigits", low=1, high=30),
        "interDigitTimeout": body.integer("interDigitTimeout", low=1, high=30) or 5,
        "terminatingDigits": terminating or "#",
        "tag": body.string("tag", max_length=256),
        "prompt": prompt,
    }

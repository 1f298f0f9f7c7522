"""Catapult callbacks (webhooks) at the door: authenticate, parse, store once.

Catapult v1 can only authenticate itself with HTTP Basic credentials written into the
callback URL, so that is what we check, in constant time. A delivery is stored under a
hash of its payload: the platform's duplicate deliveries change nothing. The endpoint
then applies it to the call at once (calls.sync.callbacks), with no API request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import CallbackEvent
from calls.sync.payloads import without_nul

MAX_BODY_BYTES = 64 * 1024


class Rejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def own_callback_url() -> str:
    """Our callback endpoint with its credentials, as Catapult must be given it ("" if off)."""
    from urllib.parse import quote

    from django.urls import reverse

    if not (settings.CALLBACK_PASSWORD and settings.CALLBACK_BASE_URL):
        return ""
    scheme, _, rest = settings.CALLBACK_BASE_URL.partition("://")
    user = quote(settings.CALLBACK_USERNAME, safe="")
    password = quote(settings.CALLBACK_PASSWORD, safe="")
    return f"{scheme}://{user}:{password}@{rest}{reverse('calls:callback')}"


def check_credentials(authorization: str | None) -> bool:
    expected_user = settings.CALLBACK_USERNAME.encode()
    expected_password = settings.CALLBACK_PASSWORD.encode()
    if not expected_password:
        return False
    if not authorization or not authorization.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, password = decoded.partition(b":")
    # Compare both halves whatever the first gives, so timing says nothing.
    user_ok = hmac.compare_digest(user, expected_user)
    password_ok = hmac.compare_digest(password, expected_password)
    return bool(sep) and user_ok and password_ok


def parse(method: str, body: bytes, query: dict[str, str], content_type: str) -> dict:
    """The event as a dict, from a JSON body (POST) or from query parameters (GET)."""
    if method == "GET":
        payload = dict(query)
    else:
        if len(body) > MAX_BODY_BYTES:
            raise Rejected(413, "Callback body too large")
        try:
            payload = json.loads(body.decode("utf-8")) if body else dict(query)
        except (UnicodeDecodeError, ValueError):
            raise Rejected(400, "Callback body is not JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "Callback body is not a JSON object")
    # No database stores NUL in text: replaced, like in any record from the API.
    payload = without_nul(payload)
    event_type = payload.get("eventType")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 64:
        raise Rejected(400, "Callback has no eventType")
    return payload


def store(payload: dict) -> tuple[CallbackEvent, bool]:
    """Store a delivery once. Returns (event, created); duplicates are not created again."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    call_id = payload.get("callId")
    recording_id = payload.get("recordingId")
    fields = {
        "received_at": timezone.now(),
        "event_type": payload["eventType"][:64],
        "call_catapult_id": call_id[:64] if isinstance(call_id, str) else "",
        "recording_id": recording_id[:64] if isinstance(recording_id, str) else "",
        "payload": payload,
    }
    try:
        with transaction.atomic():
            return CallbackEvent.objects.create(digest=digest, **fields), True
    except IntegrityError:
        return CallbackEvent.objects.get(digest=digest), False

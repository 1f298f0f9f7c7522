"""Catapult callbacks (webhooks): authenticate, store, queue. The work happens in a task.

Catapult v1 can only authenticate itself with HTTP Basic credentials written into the
callback URL, so that is what we check, in constant time. A delivery is stored under a
hash of its payload: the platform's duplicate deliveries change nothing. The task then
re-reads the call from the API; polling sync stays the source of truth.
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
    if "\\u0000" in json.dumps(payload):  # json.dumps writes NUL as \u0000
        raise Rejected(400, "Callback contains NUL characters")
    event_type = payload.get("eventType")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 64:
        raise Rejected(400, "Callback has no eventType")
    return payload


def store(payload: dict) -> tuple[CallbackEvent, bool]:
    """Store a delivery once. Returns (event, created); duplicates are not created again."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    call_id = payload.get("callId")
    fields = {
        "received_at": timezone.now(),
        "event_type": payload["eventType"][:64],
        "call_catapult_id": call_id[:64] if isinstance(call_id, str) else "",
        "payload": payload,
    }
    try:
        with transaction.atomic():
            return CallbackEvent.objects.create(digest=digest, **fields), True
    except IntegrityError:
        return CallbackEvent.objects.get(digest=digest), False


def process(event_id: int) -> str:
    """Refresh the call a stored callback concerns (run by a task)."""
    from calls import sync
    from calls.catapult import CatapultClient, CatapultError

    event = CallbackEvent.objects.get(pk=event_id)
    if event.processed_at:
        return "already processed"
    client = CatapultClient.from_settings()
    call_id = event.call_catapult_id
    error = ""
    try:
        if not call_id and isinstance(event.payload.get("recordingId"), str):
            # Transcriptions carry no callId: the recording says which call it belongs to.
            call_id = client.call_id_of_recording(event.payload["recordingId"])
        if call_id:
            sync.refresh_call(client, call_id)
    except CatapultError as exc:
        error = str(exc)
    CallbackEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now(), error=error, call_catapult_id=call_id or ""
    )
    return error or f"refreshed {call_id or 'nothing'}"

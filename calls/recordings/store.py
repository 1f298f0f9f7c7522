"""Recording rows from what the API and its callbacks say, safe to apply twice, in any order.

Three sources describe a recording, each with part of it:

- its `recording` callback: the call, the state (complete or error), start and end, but
  no media URL;
- a list item (`GET /calls/{id}/recordings` or the account-wide `GET /recordings`): the
  state, times, media URL and call URL;
- its `transcription` callback: only the recording id and the transcription.

Each write keeps what the others brought: a field is only ever filled in or moved on, a
state never goes back (a stale list saying "saving" after the callback said "complete"
changes nothing), and only changed fields are written.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from calls.catapult import MalformedResponse
from calls.models import Call
from calls.recordings.models import Recording
from calls.sync.payloads import parse_time, without_nul

log = logging.getLogger(__name__)

# How far along a state is: a write never moves a recording to an earlier one.
_PROGRESS = {"recording": 0, "saving": 1, "complete": 2, "error": 2}
_FORMATS = ("wav", "mp3")


def _text(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _time(payload: dict, key: str) -> datetime | None:
    try:
        return parse_time(payload.get(key), key)
    except MalformedResponse:
        return None  # an odd time is left out; the other sources may bring it


def _last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] if url else ""


def fields_from_item(item: dict) -> dict:
    """Model fields from a recordings-list item ({id, state, startTime, endTime, media,
    call}); only what the item actually carries."""
    item = without_nul(item)
    fields: dict = {"raw": item}
    state = _text(item.get("state"), 16)
    if state:
        fields["state"] = state
    for key, name in (("startTime", "start_time"), ("endTime", "end_time")):
        moment = _time(item, key)
        if moment is not None:
            fields[name] = moment
    media = _text(item.get("media"), 2000)
    if media:
        fields["media_url"] = media
        extension = media.rsplit(".", 1)[-1].lower() if "." in _last_segment(media) else ""
        if extension in _FORMATS:
            fields["file_format"] = extension
    call_url = _text(item.get("call"), 2000)
    if "/calls/" in call_url:
        fields["call_catapult_id"] = _last_segment(call_url)[:64]
    return fields


def fields_from_callback(payload: dict) -> dict:
    """Model fields from a `recording` callback (state in `state` and/or `status`)."""
    fields: dict = {}
    state = _text(payload.get("state"), 16) or _text(payload.get("status"), 16)
    if state:
        fields["state"] = state
    for key, name in (("startTime", "start_time"), ("endTime", "end_time")):
        moment = _time(payload, key)
        if moment is not None:
            fields[name] = moment
    call_id = _text(payload.get("callId"), 64)
    if call_id:
        fields["call_catapult_id"] = call_id
    return fields


def _merge(rec: Recording, fields: dict) -> list[str]:
    """Apply `fields` to `rec` where they move it on; the names of the fields changed."""
    changed = []
    for name, value in fields.items():
        current = getattr(rec, name)
        if name == "state":
            if current and _PROGRESS.get(value, -1) < _PROGRESS.get(current, -1):
                continue  # never backwards (an unknown state does not undo a known one)
            if current in Recording.FINAL_STATES and value not in Recording.FINAL_STATES:
                continue
        elif name == "call_catapult_id" and current:
            continue  # a recording never moves to another call
        if current != value:
            setattr(rec, name, value)
            changed.append(name)
    if rec.start_time and rec.end_time and rec.end_time >= rec.start_time:
        duration = round((rec.end_time - rec.start_time).total_seconds())
        if rec.duration != duration:
            rec.duration = duration
            changed.append("duration")
    return changed


def upsert(recording_id: str, fields: dict, *, call: Call | None = None) -> Recording:
    """Create or update one recording from `fields`. Safe against a concurrent writer."""
    now = timezone.now()
    recording_id = recording_id[:64]
    rec = Recording.objects.filter(catapult_id=recording_id).first()
    if rec is None:
        rec = Recording(
            catapult_id=recording_id,
            state="",
            start_time=fields.get("start_time") or now,
            first_seen_at=now,
            updated_at=now,
        )
        _merge(rec, fields)
        rec.state = rec.state or Recording.State.RECORDING
        _link_call(rec, call)
        try:
            with transaction.atomic():
                rec.save()
            return rec
        except IntegrityError:  # written meanwhile (a callback and a read at once)
            rec = Recording.objects.get(catapult_id=recording_id)
    changed = _merge(rec, fields)
    if rec.call_id is None and _link_call(rec, call):
        changed.append("call")
    if changed:
        rec.updated_at = now
        rec.save(update_fields=[*changed, "updated_at"])
    return rec


def _link_call(rec: Recording, call: Call | None) -> bool:
    if rec.call_id is not None:
        return False
    if call is None and rec.call_catapult_id:
        call = Call.objects.filter(catapult_id=rec.call_catapult_id).only("pk").first()
    if call is None:
        return False
    rec.call = call
    rec.call_catapult_id = rec.call_catapult_id or call.catapult_id
    return True


def store_items(items: list[dict], *, call: Call | None = None) -> tuple[list[Recording], int]:
    """Upsert list items (each has an id: the client leaves out those without).
    Returns the rows, in the items' order, and how many were new or changed."""
    known = Recording.objects.in_bulk([item["id"][:64] for item in items], field_name="catapult_id")
    rows, touched = [], 0
    for item in items:
        fields = fields_from_item(item)
        if call is not None:
            fields.setdefault("call_catapult_id", call.catapult_id)
        before = known.get(item["id"][:64])
        if before is not None and before.raw == fields["raw"] and before.call_id is not None:
            rows.append(before)  # as stored: nothing to write
            continue
        rows.append(upsert(item["id"], fields, call=call))
        touched += 1
    return rows, touched


def for_call(call: Call) -> list[Recording]:
    """The call's recordings as stored, oldest first."""
    return list(Recording.objects.filter(call_catapult_id=call.catapult_id).order_by("start_time"))


# --- callbacks -------------------------------------------------------------------------


def apply_callback(kind: str, payload: dict) -> Recording | None:
    """A `recording` or `transcription` callback applied to its Recording (no API request).
    Any other kind, or one that names no recording, changes nothing."""
    recording_id = _text(payload.get("recordingId"), 64)
    if kind not in ("recording", "transcription") or not recording_id:
        return None
    if kind == "recording":
        return upsert(recording_id, fields_from_callback(payload))
    state = _text(payload.get("state"), 16) or _text(payload.get("status"), 16)
    fields = {
        "transcription_id": _text(payload.get("transcriptionId"), 64),
        "transcription_state": state,
        "transcription_text": _text(payload.get("text"), 10_000),
        "transcription_text_url": _text(payload.get("textUrl"), 2000),
    }
    rec = Recording.objects.filter(catapult_id=recording_id).first()
    if rec is None:
        # The transcription came first: the recording's callback or a list fills it in.
        now = timezone.now()
        rec, _ = Recording.objects.get_or_create(
            catapult_id=recording_id,
            defaults={
                "state": Recording.State.COMPLETE,  # only a saved recording is transcribed
                "start_time": now,
                "first_seen_at": now,
                "updated_at": now,
            },
        )
    if rec.transcription_state == Recording.Transcription.COMPLETED and state != "completed":
        return rec  # a late "transcribing" never hides a finished text
    changed = [name for name, value in fields.items() if value and getattr(rec, name) != value]
    for name in changed:
        setattr(rec, name, fields[name])
    if changed:
        rec.updated_at = timezone.now()
        rec.save(update_fields=[*changed, "updated_at"])
    return rec


def call_id_of_recording(recording_id: str) -> str:
    """The call a recording belongs to, as far as we know it ('' if not)."""
    if not recording_id:
        return ""
    found = (
        Recording.objects.filter(catapult_id=recording_id)
        .exclude(call_catapult_id="")
        .values_list("call_catapult_id", flat=True)
        .first()
    )
    return found or ""


def link_orphans() -> int:
    """Recordings stored before their call: linked once the call is there. One UPDATE."""
    calls = Call.objects.filter(catapult_id=OuterRef("call_catapult_id")).values("pk")[:1]
    return (
        Recording.objects.filter(call__isnull=True)
        .exclude(call_catapult_id="")
        .filter(call_catapult_id__in=Call.objects.values("catapult_id"))
        .update(call=Subquery(calls))
    )

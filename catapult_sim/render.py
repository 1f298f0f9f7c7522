"""JSON rendering of resources, exactly as the API puts them on the wire.

Rules taken from the reference: absent fields are left out (never null); times are
ISO-8601 UTC with milliseconds and `Z`; sub-collection links are absolute URLs built on
the origin the client used. `base` below is the API prefix `{origin}/v1/users/{userId}`.
"""

from __future__ import annotations

import json
import math
import time

from .store import Call, Gather, Recording, Transcription

_DAYS: dict[int, str] = {}  # day number -> "YYYY-MM-DDT"; a list page renders thousands


def iso(ms: int) -> str:
    seconds, milli = divmod(ms, 1000)
    day, rest = divmod(seconds, 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        t = time.gmtime(day * 86400)
        prefix = _DAYS.setdefault(day, f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T")
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def chargeable_seconds(call: Call) -> int | None:
    """Talk time billed in whole minutes, expressed in seconds (3.5 s -> 60, 5 min -> 300)."""
    if call.active_ms is None or call.end_ms is None:
        return None
    minutes = math.ceil(max(0, call.end_ms - call.active_ms) / 60_000)
    return max(1, minutes) * 60


def call_json(call: Call, base: str, in_list: bool = False) -> dict:
    out = _call_fields(call)
    out.update(_call_links(call, base, in_list))
    return out


def call_list_body(calls: list[Call], base: str) -> bytes:
    """The JSON array of a calls page, built fast.

    A final call never changes, so its fields are serialized once and kept on the call
    (only for calls somebody listed); the links depend on the origin the client used and
    are added per request. Same bytes as dumps([call_json(c, base, True) ...]).
    """
    parts = []
    events_prefix = b',"events":' + dumps(f"{base}/calls/")[:-1]  # the URL's opening quote
    for call in calls:
        fields = call.json_cache
        if fields is None:
            fields = dumps(_call_fields(call))[:-1]  # without the closing brace
            if call.is_final:
                call.json_cache = fields
        if call.bridge_id is None and call.conference_id is None:
            # Ids minted here are [a-z0-9-]: nothing to escape.
            parts.append(b'%s%s%s/events"}' % (fields, events_prefix, call.id.encode()))
        else:
            parts.append(fields + b"," + dumps(_call_links(call, base, True))[1:])
    return b"[" + b",".join(parts) + b"]"


def _call_links(call: Call, base: str, in_list: bool) -> dict:
    uri = f"{base}/calls/{call.id}"
    out = {}
    if call.bridge_id is not None:
        out["bridge"] = f"{base}/bridges/{call.bridge_id}"
    if call.conference_id is not None:
        out["conference"] = f"{base}/conferences/{call.conference_id}"
    out["events"] = f"{uri}/events"
    if not in_list:
        # The documented list items carry `events` only; the single call has all three.
        out["recordings"] = f"{uri}/recordings"
        out["transcriptions"] = f"{uri}/transcriptions"
    return out


def _call_fields(call: Call) -> dict:
    """Everything but the URLs."""
    out: dict = {
        "id": call.id,
        "direction": call.direction,
        "from": call.from_,
        "to": call.to,
        "state": call.state,
        "startTime": iso(call.start_ms),
    }
    if call.active_ms is not None:
        out["activeTime"] = iso(call.active_ms)
    if call.end_ms is not None:
        out["endTime"] = iso(call.end_ms)
    billed = chargeable_seconds(call)
    if billed is not None:
        out["chargeableDuration"] = billed
    optional = (
        ("callTimeout", call.call_timeout),
        ("callbackUrl", call.callback_url),
        ("callbackHttpMethod", call.callback_method),
        ("callbackTimeout", call.callback_timeout),
        ("fallbackUrl", call.fallback_url),
    )
    for name, value in optional:
        if value is not None:
            out[name] = value
    if call.bridge_id is not None:
        out["bridgeId"] = call.bridge_id
    if call.conference_id is not None:
        out["conferenceId"] = call.conference_id
    out["recordingEnabled"] = call.recording_enabled
    out["recordingFileFormat"] = call.recording_format
    if call.recording_max is not None:
        out["recordingMaxDuration"] = call.recording_max
    out["transcriptionEnabled"] = call.transcription_enabled
    rest = (
        ("tag", call.tag),
        ("sipHeaders", call.sip_headers),
        ("transferTo", call.transfer_to),
        ("transferCallerId", call.transfer_caller_id),
        ("whisperAudio", call.whisper_audio),
    )
    for name, value in rest:
        if value is not None:
            out[name] = value
    return out


def event_json(event: tuple, epoch_time: bool = False) -> dict:
    event_id, ms, name, data = event
    out: dict = {"id": event_id, "time": ms if epoch_time else iso(ms), "name": name}
    if data is not None:
        out["data"] = data
    return out


def recording_json(rec: Recording, base: str) -> dict:
    out: dict = {"id": rec.id, "startTime": iso(rec.start_ms)}
    if rec.end_ms is not None:
        out["endTime"] = iso(rec.end_ms)
    out["state"] = rec.state
    out["media"] = f"{base}/media/{rec.call_id}-{rec.number}.{rec.file_format}"
    out["call"] = f"{base}/calls/{rec.call_id}"
    return out


def transcription_json(tr: Transcription, base: str) -> dict:
    out: dict = {"id": tr.id, "state": tr.state, "time": iso(tr.time_ms)}
    if tr.state == "completed":
        out["text"] = tr.text[:1000]
        out["textSize"] = len(tr.text)
        out["chargeableDuration"] = max(1, math.ceil(tr.duration_s / 60)) * 60
    out["textUrl"] = f"{base}/recordings/{tr.recording_id}/transcriptions/{tr.id}/media"
    return out


def gather_json(gather: Gather, base: str) -> dict:
    out: dict = {"id": gather.id, "state": gather.state}
    if gather.reason is not None:
        out["reason"] = gather.reason
    out["createdTime"] = iso(gather.created_ms)
    if gather.completed_ms is not None:
        out["completedTime"] = iso(gather.completed_ms)
    out["call"] = f"{base}/calls/{gather.call_id}"
    if gather.state == "completed":
        out["digits"] = gather.digits
    if gather.tag is not None:
        out["tag"] = gather.tag
    return out


# One encoder for all: json.dumps() with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: object) -> bytes:
    return _ENCODER.encode(obj).encode("utf-8")

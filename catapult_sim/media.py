"""Media on a live call: recording, playback and speech, DTMF, gather.

Part of the call state machine (mixed into machine.Engine, whose helpers `_event`,
`_notify`, `_uri`, `call` and attributes `sim`, `store`, `ids`, `scheduler`, `rng` it
uses). Same conventions: `at` is the instant in epoch ms, the caller holds the lock.
"""

from __future__ import annotations

import json
import zlib

from . import errors
from .errors import ApiError
from .render import iso
from .store import Call, Gather, Media, Recording, Transcription

# How long the platform takes to fetch media before a playback starts (the docs' event
# example shows CHANNEL_EXECUTE playback stamped a few seconds after it was requested).
MEDIA_FETCH_MS = 300
SAVING_MS = 1500  # a stopped recording is "saving" this long before it is "complete"
TRANSCRIBING_MS = 3000
DEFAULT_RECORDING_MAX_S = 3600

TRANSCRIPT = (
    "Hi, this is a message about your account. Please call us back at your earliest "
    "convenience. Thank you and have a great day."
)


def exec_data(application: str, data: str | None = None) -> str:
    """`data` of CHANNEL_EXECUTE events: a JSON string, as in the docs' example."""
    payload = {"applicationName": application}
    if data is not None:
        payload["applicationData"] = data
    return json.dumps(payload, separators=(",", ":"))


class MediaOps:
    """Recording, audio, DTMF and gather transitions of machine.Engine."""

    @staticmethod
    def _require_active(call: Call) -> None:
        """For operations on a live call (audio, dtmf, gather, recording)."""
        if call.state != "active":
            raise errors.invalid_state(call.id, call.state)

    def _media_event(self, call: Call, event_type: str, at: int, media: Media, **fields) -> dict:
        payload: dict = {"eventType": event_type, "callId": call.id, "callUri": self._uri(call)}
        payload.update(fields)
        payload["time"] = iso(at)
        tag = media.tag if media.tag is not None else call.tag
        if tag is not None:
            payload["tag"] = tag
        return payload

    # -- recording ---------------------------------------------------------------------

    def _start_recording(self, call: Call, at: int) -> None:
        number = len(call.recordings or ()) + 1
        rec = Recording(self.ids.new("rec"), call.id, number, at, call.recording_format)
        self.store.add_recording(call, rec)
        call.current_recording = rec
        self._event(call, at, "recording", "start")
        limit_ms = (call.recording_max or DEFAULT_RECORDING_MAX_S) * 1000
        self.scheduler.at(at + limit_ms, self._recording_limit, call.id, rec.id)

    def _recording_limit(self, at: int, call_id: str, rec_id: str) -> None:
        call = self.call(call_id)
        if call.current_recording is not None and call.current_recording.id == rec_id:
            self._stop_recording(call, at)

    def _stop_recording(self, call: Call, at: int) -> None:
        rec = call.current_recording
        call.current_recording = None
        rec.end_ms = at
        rec.state = "saving"
        self._event(call, at, "recording", "done")
        self.scheduler.at(at + SAVING_MS, self._recording_saved, call.id, rec.id)

    def _recording_saved(self, at: int, call_id: str, rec_id: str) -> None:
        call = self.call(call_id)
        rec = self.store.recordings[rec_id]
        rec.state = "complete"
        self._notify(
            call,
            {
                "eventType": "recording",
                "callId": call.id,
                "recordingId": rec.id,
                "recordingUri": f"{self.sim.api_base}/recordings/{rec.id}",
                "status": "complete",
                "state": "complete",
                "startTime": iso(rec.start_ms),
                "endTime": iso(rec.end_ms),
            },
        )
        if call.transcription_enabled:
            duration_s = max(1, (rec.end_ms - rec.start_ms) // 1000)
            tr = Transcription(self.ids.new("tr"), rec.id, at, duration_s)
            if call.transcriptions is None:
                call.transcriptions = []
            call.transcriptions.append(tr)
            self.scheduler.at(at + TRANSCRIBING_MS, self._transcribed, call.id, tr.id)

    def _transcribed(self, at: int, call_id: str, tr_id: str) -> None:
        call = self.call(call_id)
        tr = next(t for t in call.transcriptions if t.id == tr_id)
        tr.state = "completed"
        tr.text = TRANSCRIPT
        tr.time_ms = at
        uri = f"{self.sim.api_base}/recordings/{tr.recording_id}/transcriptions/{tr.id}"
        self._notify(
            call,
            {
                "eventType": "transcription",
                "transcriptionId": tr.id,
                "transcriptionUri": uri,
                "recordingId": tr.recording_id,
                "state": "completed",
                "status": "completed",
                "textSize": len(tr.text),
                "text": tr.text,
                "textUrl": f"{uri}/media",
            },
        )

    # -- audio -------------------------------------------------------------------------

    def play_audio(self, call: Call, at: int, params: dict) -> None:
        """API: play a file or speak a sentence; an empty string stops what is playing."""
        self._require_active(call)
        kind = "speak" if params.get("sentence") is not None else "playback"
        content = params["sentence"] if kind == "speak" else params["fileUrl"]
        if content == "":
            if call.media is None or call.media.kind != kind:
                raise ApiError(
                    403,
                    "forbidden",
                    "call-audio-invalid-state",
                    f"There is no {kind} in progress to stop on call {call.id}",
                    [("callId", call.id)],
                )
            self._stop_media(call, at)
            return
        if call.media is not None:
            self._stop_media(call, at)
        self._media_token += 1
        call.media = Media(
            kind=kind,
            content=content,
            requested_ms=at,
            loop=bool(params.get("loopEnabled")),
            tag=params.get("tag"),
            token=self._media_token,
        )
        self.scheduler.at(at + MEDIA_FETCH_MS, self._media_started, call.id, self._media_token)

    @staticmethod
    def _media_duration_ms(media: Media) -> int:
        if media.kind == "speak":
            return 600 + 400 * len(media.content.split())
        # Files have no known length here: a stable 3-12 s derived from the URL.
        return 3000 + zlib.crc32(media.content.encode()) % 9000

    def _media_started(self, at: int, call_id: str, token: int) -> None:
        call = self.call(call_id)
        media = call.media
        if media is None or media.token != token or call.state != "active":
            return
        media.started = True
        self._event(call, at, "CHANNEL_EXECUTE", exec_data(media.kind, media.content))
        self._notify(call, self._media_status(call, at, media, "started"))
        if not media.loop:
            self.scheduler.at(at + self._media_duration_ms(media), self._media_done, call.id, token)

    def _media_done(self, at: int, call_id: str, token: int) -> None:
        call = self.call(call_id)
        media = call.media
        if media is None or media.token != token:
            return
        call.media = None
        # Appended when the media finishes but stamped with the time it was requested,
        # which is why the docs' event list is not in time order.
        self._event(call, media.requested_ms, media.kind, "start")
        self._event(call, media.requested_ms, media.kind, "done")
        self._event(call, at, "CHANNEL_EXECUTE_COMPLETE", exec_data(media.kind, media.content))
        self._notify(call, self._media_status(call, at, media, "done"))

    def _stop_media(self, call: Call, at: int, notify: bool = True) -> None:
        media = call.media
        call.media = None
        if not media.started:
            return
        self._event(call, at, "CHANNEL_EXECUTE_COMPLETE", exec_data(media.kind, media.content))
        if notify:
            self._notify(call, self._media_status(call, at, media, "done"))

    def _media_status(self, call: Call, at: int, media: Media, status: str) -> dict:
        if media.kind == "speak":
            state = "PLAYBACK_START" if status == "started" else "PLAYBACK_STOP"
            return self._media_event(
                call, "speak", at, media, status=status, state=state, type="speak"
            )
        return self._media_event(call, "playback", at, media, status=status)

    # -- DTMF and gather ---------------------------------------------------------------

    def send_dtmf(self, call: Call, at: int, digits: str) -> None:
        """API: play DTMF tones to the remote party."""
        self._require_active(call)
        self._event(call, at, "CHANNEL_EXECUTE", exec_data("send_dtmf", digits))
        pauses = {",": 500, "w": 500, "W": 1000}
        duration = sum(pauses.get(d, 100) for d in digits)
        self.scheduler.at(at + duration, self._dtmf_sent, call.id, digits)

    def _dtmf_sent(self, at: int, call_id: str, digits: str) -> None:
        call = self.call(call_id)
        if call.state == "active":
            self._event(call, at, "CHANNEL_EXECUTE_COMPLETE", exec_data("send_dtmf", digits))

    def press_digits(self, call: Call, at: int, digits: str, spacing_ms: int = 300) -> None:
        """The remote party presses keys, one every `spacing_ms`."""
        self._require_active(call)
        for i, digit in enumerate(digits):
            self.scheduler.at(at + i * spacing_ms, self._remote_digit, call.id, digit)

    def _remote_digit(self, at: int, call_id: str, digit: str) -> None:
        call = self.call(call_id)
        if call.state != "active":
            return
        self._event(call, at, "dtmf", digit)
        payload = {
            "eventType": "dtmf",
            "callId": call.id,
            "callUri": self._uri(call),
            "dtmfDigit": digit,
            "dtmfDuration": "100",
            "time": iso(at),
        }
        if call.tag is not None:
            payload["tag"] = call.tag
        self._notify(call, payload)
        gather = self._open_gather(call)
        if gather is None:
            return
        if digit in gather.terminating_digits:
            self._complete_gather(call, gather, at, "terminating-digit")
            return
        gather.digits += digit
        if gather.max_digits is not None and len(gather.digits) >= gather.max_digits:
            self._complete_gather(call, gather, at, "max-digits")
        else:
            self.scheduler.at(
                at + gather.inter_digit_timeout * 1000,
                self._gather_idle,
                call.id,
                gather.id,
                len(gather.digits),
            )

    @staticmethod
    def _open_gather(call: Call) -> Gather | None:
        for gather in (call.gathers or {}).values():
            if gather.state == "started":
                return gather
        return None

    def start_gather(self, call: Call, at: int, params: dict) -> Gather:
        """API: collect digits. The simulated caller answers a couple of seconds later."""
        self._require_active(call)
        if self._open_gather(call) is not None:
            raise ApiError(
                409,
                "conflict",
                "call-duplicate-gather-error",
                f"DTMF digits are already being gathered for call {call.id}",
                [("callId", call.id)],
            )
        gather = Gather(
            id=self.ids.new("gtr"),
            call_id=call.id,
            created_ms=at,
            max_digits=params.get("maxDigits"),
            inter_digit_timeout=params.get("interDigitTimeout") or 5,
            terminating_digits=params.get("terminatingDigits") or "#",
            tag=params.get("tag"),
        )
        if call.gathers is None:
            call.gathers = {}
        call.gathers[gather.id] = gather
        self._event(call, at, "gather", "started")
        prompt = params.get("prompt") or {}
        if prompt.get("sentence") or prompt.get("fileUrl"):
            self.play_audio(
                call,
                at,
                {
                    "sentence": prompt.get("sentence") or None,
                    "fileUrl": None if prompt.get("sentence") else prompt.get("fileUrl"),
                    "loopEnabled": False,
                    "tag": gather.tag,
                },
            )
        if self.sim.auto_gather_digits:
            count = gather.max_digits or self.rng.randint(1, 4)
            digits = "".join(self.rng.choice("0123456789") for _ in range(count))
            if gather.max_digits is None:
                digits += gather.terminating_digits[0]
            self.press_digits(call, at + 2000, digits)
        return gather

    def _gather_idle(self, at: int, call_id: str, gather_id: str, seen: int) -> None:
        call = self.call(call_id)
        gather = (call.gathers or {}).get(gather_id)
        if gather and gather.state == "started" and len(gather.digits) == seen:
            self._complete_gather(call, gather, at, "inter-digit-timeout")

    def stop_gather(self, call: Call, gather: Gather, at: int) -> None:
        """API: `{"state": "completed"}` on a gather."""
        if gather.state == "started":
            self._complete_gather(call, gather, at, "cancelled")

    def _complete_gather(self, call: Call, gather: Gather, at: int, reason: str) -> None:
        gather.state = "completed"
        gather.reason = reason
        gather.completed_ms = at
        if call.state == "active":
            self._event(call, at, "gather", "completed")
        payload = {
            "eventType": "gather",
            "reason": reason,
            "state": "completed",
            "digits": gather.digits,
            "time": iso(at),
            "callId": call.id,
            "gatherId": gather.id,
        }
        tag = gather.tag if gather.tag is not None else call.tag
        if tag is not None:
            payload["tag"] = tag
        self._notify(call, payload)

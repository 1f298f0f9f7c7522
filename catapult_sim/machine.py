"""The call state machine: every transition, its call events and its callbacks.

Used by the API handlers (requested transitions), by the scheduler (the remote party
answering, hanging up, pressing keys; media finishing) and by the traffic generator.
Media on a live call (recording, audio, DTMF, gather) is in media.py.
Every method takes `at`, the epoch-ms instant the transition happens, and the caller holds
`Simulator.lock`.

States: started -> active -> completed, plus rejected (incoming call refused), transferring
(an active call whose audio is being moved to a new leg) and error (the call failed).
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

from . import errors
from .callbacks import DEFAULT_TIMEOUT_MS, Delivery
from .errors import ApiError
from .media import MediaOps, exec_data
from .render import iso
from .store import OPEN_STATES, Call

if TYPE_CHECKING:
    from .simulator import Simulator

RINGING_FAILURE_MS = 1500  # busy / unallocated answers come back this fast
DEFAULT_CALL_TIMEOUT_S = 60

# Destination numbers whose last four digits trigger an outcome other than "answered".
NUMBER_OUTCOMES = {
    "0000": "busy",
    "0001": "no_answer",
    "0002": "error",
    "0003": "unallocated",
}


def outcome_for(number: str) -> str:
    if number.startswith("+"):
        return NUMBER_OUTCOMES.get(number[-4:], "answer")
    return "answer"


class Engine(MediaOps):
    def __init__(self, sim: Simulator, seed: int | str) -> None:
        self.sim = sim
        self.store = sim.store
        self.ids = sim.ids
        self.scheduler = sim.scheduler
        self.rng = random.Random(f"engine:{seed}")
        self._media_token = 0

    # -- small helpers -----------------------------------------------------------------

    def call(self, call_id: str) -> Call:
        call = self.store.get(call_id)
        if call is None:
            raise errors.call_not_found(call_id)
        return call

    def _event(self, call: Call, at: int, name: str, data: str | None = None) -> None:
        call.events.append((self.ids.new("ce"), at, name, data))

    def _uri(self, call: Call) -> str:
        return f"{self.sim.api_base}/calls/{call.id}"

    def _notify(self, call: Call, payload: dict) -> None:
        if call.callback_url:
            url, method = call.callback_url, call.callback_method or "POST"
            timeout, fallback = call.callback_timeout or DEFAULT_TIMEOUT_MS, call.fallback_url
        elif call.app_callbacks and self.sim.incoming_call_url:
            url, method = self.sim.incoming_call_url, self.sim.incoming_call_method
            timeout, fallback = DEFAULT_TIMEOUT_MS, self.sim.incoming_call_fallback_url
        else:
            return
        delivery = Delivery(url, method.upper(), payload, timeout, fallback)
        self.sim.callbacks.submit(call.id, delivery)

    def _call_event(self, call: Call, event_type: str, at: int, **fields: object) -> dict:
        """The common callback shape: eventType, from, to, callId, callUri, ..., time, tag."""
        payload: dict = {
            "eventType": event_type,
            "from": call.from_,
            "to": call.to,
            "callId": call.id,
            "callUri": self._uri(call),
        }
        payload.update(fields)
        payload["time"] = iso(at)
        if call.tag is not None:
            payload["tag"] = call.tag
        return payload

    @staticmethod
    def _require(call: Call, *states: str) -> None:
        if call.state not in states:
            if call.is_final:
                raise errors.final_state(call.id, call.state)
            raise errors.invalid_state(call.id, call.state)

    def _check_requested(self, call: Call, state: str) -> None:
        """Refuse a state the API may not move this call to (403 call-invalid-state)."""
        if state in ("active", "rejected"):
            # Answer and reject apply to a ringing incoming call only.
            self._require(call, "started")
            if call.direction != "in":
                raise errors.invalid_state(call.id, call.state)
        elif state == "completed":
            self._require(call, *OPEN_STATES)
        elif state == "transferring":
            self._require(call, "active")

    # -- creating calls ----------------------------------------------------------------

    def create_outbound(
        self,
        fields: dict,
        at: int,
        *,
        outcome: str | None = None,
        answer_after_ms: int | None = None,
        app_callbacks: bool = False,
    ) -> Call:
        """A new outgoing call, ringing. The remote side's reaction is scheduled here."""
        call = Call(self.ids.new("c"), "out", fields["from"], fields["to"], at)
        call.call_timeout = fields.get("callTimeout")
        call.callback_url = fields.get("callbackUrl")
        call.callback_method = fields.get("callbackHttpMethod")
        call.callback_timeout = fields.get("callbackTimeout")
        call.fallback_url = fields.get("fallbackUrl")
        call.bridge_id = fields.get("bridgeId")
        call.conference_id = fields.get("conferenceId")
        call.recording_enabled = bool(fields.get("recordingEnabled"))
        call.recording_format = fields.get("recordingFileFormat") or "wav"
        call.recording_max = fields.get("recordingMaxDuration")
        call.transcription_enabled = bool(fields.get("transcriptionEnabled"))
        call.tag = fields.get("tag")
        call.sip_headers = fields.get("sipHeaders")
        call.app_callbacks = app_callbacks
        hangup_after = self.sim.outbound_hangup_after_seconds
        if hangup_after is not None:
            call.remote_talk_ms = round(hangup_after * 1000)
        self.store.add(call)
        self._event(call, at, "create")

        outcome = outcome or outcome_for(call.to)
        timeout_ms = (call.call_timeout or DEFAULT_CALL_TIMEOUT_S) * 1000
        if answer_after_ms is None:
            answer_after_ms = round(self.sim.answer_delay_seconds * 1000)
        if outcome == "answer" and answer_after_ms < timeout_ms:
            self.scheduler.at(at + answer_after_ms, self._remote_answer, call.id)
        elif outcome in ("answer", "no_answer"):
            self.scheduler.at(at + timeout_ms, self._no_answer, call.id)
        elif outcome == "busy":
            self.scheduler.at(at + RINGING_FAILURE_MS, self._remote_reject, call.id, "USER_BUSY")
        elif outcome == "unallocated":
            self.scheduler.at(
                at + RINGING_FAILURE_MS, self._remote_reject, call.id, "UNALLOCATED_NUMBER"
            )
        elif outcome == "error":
            self.scheduler.at(at + RINGING_FAILURE_MS, self._fail, call.id)
        elif outcome != "pending":  # "pending": the caller schedules the outcome itself
            raise ValueError(f"unknown outcome {outcome!r}")
        return call

    def create_inbound(
        self,
        from_: str,
        to: str,
        at: int,
        *,
        auto_answer: bool = True,
        tag: str | None = None,
        sip_headers: dict | None = None,
        remote_talk_ms: int | None = None,
    ) -> Call:
        """A call arriving at one of the account's numbers.

        Auto-answered calls are active when `incomingcall` is sent (callState "active") and
        get no separate `answer` callback; the others ring until answered, rejected or
        hung up.
        """
        call = Call(self.ids.new("c"), "in", from_, to, at)
        call.app_callbacks = True
        call.tag = tag
        call.sip_headers = sip_headers
        call.remote_talk_ms = remote_talk_ms
        self.store.add(call)
        self._event(call, at, "create")
        if auto_answer:
            self._answer(call, at, notify=False)
        payload = self._call_event(
            call,
            "incomingcall",
            at,
            callState=call.state,
            applicationId=self.sim.application_id,
        )
        payload.pop("tag", None)  # the application has not tagged the call yet
        self._notify(call, payload)
        return call

    # -- answering -----------------------------------------------------------------------

    def answer(self, call: Call, at: int) -> None:
        """API: answer an incoming call that is still ringing."""
        self._check_requested(call, "active")
        self._answer(call, at)

    def _remote_answer(self, at: int, call_id: str) -> None:
        call = self.call(call_id)
        if call.state == "started":
            self._answer(call, at)

    def _answer(self, call: Call, at: int, notify: bool = True) -> None:
        call.state = "active"
        call.active_ms = at
        self._event(call, at, "answer")
        # With no command pending the platform parks the channel, as in the docs' example.
        self._event(call, at, "CHANNEL_EXECUTE", exec_data("park"))
        if notify:
            self._notify(call, self._call_event(call, "answer", at, callState="active"))
        if call.recording_enabled and call.current_recording is None:
            self._start_recording(call, at)
        if call.remote_talk_ms is not None:
            self.scheduler.at(at + call.remote_talk_ms, self.remote_hangup, call.id)
        partner = self.store.get(call.partner) if call.partner else None
        if partner is not None and partner.state == "transferring":
            self._transfer_connected(partner, call, at)

    # -- ending ------------------------------------------------------------------------

    def reject(self, call: Call, at: int) -> None:
        """API: refuse an incoming call that is still ringing."""
        self._check_requested(call, "rejected")
        self._finish(call, at, "CALL_REJECTED", state="rejected")

    def hangup(self, call: Call, at: int, cause: str | None = None) -> None:
        """API (`state=completed`) or remote side: end a call that is not final yet."""
        self._check_requested(call, "completed")
        if cause is None:
            ringing_out = call.state == "started" and call.direction == "out"
            cause = "ORIGINATOR_CANCEL" if ringing_out else "NORMAL_CLEARING"
        self._finish(call, at, cause)

    def remote_hangup(self, at: int, call_id: str, cause: str = "NORMAL_CLEARING") -> None:
        """Scheduled: the remote party hangs up an answered call."""
        call = self.call(call_id)
        if call.state in ("active", "transferring"):
            self._finish(call, at, cause)

    def caller_gives_up(self, at: int, call_id: str, timeout_event: bool = False) -> None:
        """A ringing incoming call that nobody answered: the caller hangs up."""
        call = self.call(call_id)
        if call.state != "started":
            return
        if timeout_event:
            self._no_answer(at, call_id)
        else:
            self._finish(call, at, "ORIGINATOR_CANCEL")

    def _remote_reject(self, at: int, call_id: str, cause: str) -> None:
        call = self.call(call_id)
        if call.state == "started":
            self._finish(call, at, cause)

    def _no_answer(self, at: int, call_id: str) -> None:
        call = self.call(call_id)
        if call.state != "started":
            return
        self._event(call, at, "timeout")
        self._notify(call, self._call_event(call, "timeout", at))
        self._finish(call, at, "NO_ANSWER")

    def _fail(self, at: int, call_id: str) -> None:
        """The platform could not place the call: state `error`."""
        call = self.call(call_id)
        if call.state != "started":
            return
        self._finish(call, at, "NORMAL_TEMPORARY_FAILURE", state="error")

    def _finish(self, call: Call, at: int, cause: str, state: str = "completed") -> None:
        call.state = state
        call.end_ms = at
        call.cause = cause
        self._event(call, at, "hangup", cause)
        if call.media is not None:
            self._stop_media(call, at + 20, notify=False)
        if call.current_recording is not None:
            self._stop_recording(call, at)
        for gather in (call.gathers or {}).values():
            if gather.state == "started":
                self._complete_gather(call, gather, at, "hung-up")
        if state == "error":
            self._notify(call, self._call_event(call, "error", at, callState="error"))
        else:
            self._notify(
                call, self._call_event(call, "hangup", at, callState="completed", cause=cause)
            )
        self._end_partner(call, at)

    def _end_partner(self, call: Call, at: int) -> None:
        """A transfer ties two legs together: decide what the other one does."""
        if call.partner is None:
            return
        other = self.store.get(call.partner)
        call.partner = None
        if other is None or other.partner != call.id:
            return
        other.partner = None
        if other.is_final:
            return
        if other.state == "transferring":
            # The new leg failed before connecting: the original call carries on.
            other.state = "active"
            self._event(other, at, "transfer", json.dumps({"callId": call.id, "status": "failed"}))
        elif other.state == "started":
            self._finish(other, at, "ORIGINATOR_CANCEL")
        else:
            self._finish(other, at, "NORMAL_CLEARING")

    # -- transfer ----------------------------------------------------------------------

    def transfer(self, call: Call, at: int, fields: dict) -> Call:
        """API: move an active call to a new outbound leg; returns the new (B) leg.

        The A leg is `transferring` until the B leg answers, then `active` again with the
        two legs joined: when either hangs up, the other is hung up too. If the B leg
        fails (busy, no answer, ...) the A leg goes back to `active` on its own.
        """
        self._check_requested(call, "transferring")
        caller_id = fields.get("transferCallerId")
        own_number = call.to if call.direction == "in" else call.from_
        allowed = set(self.sim.account_numbers) | {"private"}
        if call.direction == "in":
            allowed.add(call.from_)
        if caller_id is not None and caller_id not in allowed:
            raise errors.validation(
                f"The callerId {caller_id} is not allowed. It must be `private` or a phone "
                "number owned by user",
                [("transferCallerId", caller_id)],
            )
        if call.partner is not None:
            # Transferring again drops the leg the call was joined to.
            old = self.store.get(call.partner)
            call.partner = None
            if old is not None and not old.is_final:
                old.partner = None
                self._finish(old, at, "NORMAL_CLEARING")
        b_from = caller_id if caller_id not in (None, "private") else own_number
        leg_fields = {
            "from": b_from,
            "to": fields["transferTo"],
            "callbackUrl": fields.get("callbackUrl") or call.callback_url,
            "callbackHttpMethod": call.callback_method,
            "callbackTimeout": call.callback_timeout,
            "fallbackUrl": call.fallback_url,
            "tag": call.tag,
        }
        leg = self.create_outbound(
            leg_fields, at, app_callbacks=call.app_callbacks and not fields.get("callbackUrl")
        )
        call.state = "transferring"
        call.transfer_to = fields["transferTo"]
        call.transfer_caller_id = caller_id
        call.whisper_audio = fields.get("whisperAudio")
        call.partner, leg.partner = leg.id, call.id
        self._event(
            call,
            at,
            "transfer",
            json.dumps({"callId": leg.id, "transferTo": leg.to, "status": "started"}),
        )
        return leg

    def _transfer_connected(self, a_leg: Call, b_leg: Call, at: int) -> None:
        whisper = a_leg.whisper_audio
        if whisper and (whisper.get("sentence") or whisper.get("fileUrl")):
            media = {
                "sentence": whisper.get("sentence"),
                "fileUrl": whisper.get("fileUrl") if not whisper.get("sentence") else None,
                "loopEnabled": False,
                "tag": None,
            }
            self.play_audio(b_leg, at, media)
        a_leg.state = "active"
        self._event(a_leg, at, "transfer", json.dumps({"callId": b_leg.id, "status": "connected"}))

    # -- requested update (POST /calls/{id}) -------------------------------------------

    def update(self, call: Call, at: int, fields: dict) -> Call | None:
        """Apply a validated update body. Returns the new leg for a transfer.

        Everything is checked before anything changes, so a refused request leaves the
        call untouched. Recording properties are applied after the state change and
        judged against the state the call ends up in: answer + start recording works,
        hang up + stop recording works, hang up + start recording is refused.
        """
        state = fields.get("state")
        record = fields.get("recordingEnabled")
        settings = {
            k: fields[k] for k in ("recordingFileFormat", "recordingMaxDuration") if k in fields
        }

        if state is not None:
            self._check_requested(call, state)
        final_state = state or call.state

        if record is True:
            if final_state != "active":
                raise errors.invalid_state(call.id, final_state)
            if call.current_recording is not None:
                raise ApiError(
                    409,
                    "conflict",
                    "conflicted-recording-values-request",
                    "Call recording is been executed already!",
                    [("callId", call.id)],
                )
        if settings and record is None:
            if final_state not in OPEN_STATES:
                raise errors.invalid_state(call.id, final_state)
            if call.current_recording is not None:
                raise ApiError(
                    409,
                    "conflict",
                    "conflicted-recording-values-request",
                    "Call recording maximum duration time cannot be changed while recording "
                    "is been executed!",
                    [("callId", call.id)],
                )
        if state is None and call.is_final and fields:
            raise errors.invalid_state(call.id, call.state)

        new_leg = None
        if state == "active":
            self.answer(call, at)
        elif state == "rejected":
            self.reject(call, at)
        elif state == "completed":
            self.hangup(call, at)
        elif state == "transferring":
            new_leg = self.transfer(call, at, fields)
        elif "callbackUrl" in fields:
            call.callback_url = fields["callbackUrl"]
        if "tag" in fields:
            call.tag = fields["tag"]
        if "recordingFileFormat" in settings:
            call.recording_format = settings["recordingFileFormat"]
        if "recordingMaxDuration" in settings:
            call.recording_max = settings["recordingMaxDuration"]
        if record is True:
            call.recording_enabled = True
            self._start_recording(call, at)
        elif record is False:
            call.recording_enabled = False
            if call.current_recording is not None:
                self._stop_recording(call, at)
        return new_leg

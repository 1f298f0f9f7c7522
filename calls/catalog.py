"""Every operator action, described once.

Its label, its past tense, how the timeline words an operator asking for it, which
event confirms it, when it is allowed, and what it sends to the API all live on one
object: the buttons (detail page, table rows, ringing strip), the timeline, the audit
and the client all read from here, so a new action is one entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

LIVE = ("started", "active", "transferring")


def _always(data: str) -> bool:
    return True


@dataclass(frozen=True)
class ActionKind:
    name: str
    label: str  # on its button
    past: str  # "The call ... cannot be {past}."
    asked: str  # timeline: "otto asked to {asked}: the API accepted"
    states: tuple[str, ...] = ()  # call states that allow it
    expected: str = ""  # what the call shows once it took effect ("": nothing to wait for)
    direction: str = ""  # "in": incoming calls only
    confirm: str = ""  # question asked before sending
    recording: bool | None = None  # the recording flag the call must have now
    danger: bool = False  # ends something: the button says so
    in_rows: bool = False  # offered on the calls table's rows and the ringing strip
    # The event that confirms it: (event name, test of the event's data).
    confirmed_by: tuple[str, Callable[[str], bool]] | None = None
    # The update-call arguments it sends, from the action's form data.
    arguments: Callable[[dict], dict] = field(default=lambda params: {}, repr=False)

    def allowed_for(self, call) -> bool:
        if call.state not in self.states:
            return False
        if self.direction and call.direction != self.direction:
            return False
        return self.recording is None or call.recording_enabled == self.recording

    def why_not(self, call) -> str:
        if self.direction and call.direction != self.direction:
            return f"Only incoming calls can be {self.past}."
        if self.recording is not None and call.recording_enabled != self.recording:
            return "Recording is already " + ("on." if call.recording_enabled else "off.")
        return f"The call is {call.state_label.lower()}: it cannot be {self.past}."


def _recording_on(params: dict) -> dict:
    return {
        "recording_enabled": True,
        "recording_file_format": params.get("recording_file_format") or "wav",
    }


def _transfer(params: dict) -> dict:
    whisper = params.get("whisper_sentence")
    return {
        "state": "transferring",
        "transfer_to": params["transfer_to"],
        "transfer_caller_id": params.get("transfer_caller_id") or None,
        "whisper_audio": {"sentence": whisper} if whisper else None,
    }


ACTIONS: dict[str, ActionKind] = {
    kind.name: kind
    for kind in (
        ActionKind(
            "answer",
            "Answer",
            past="answered",
            asked="answer the call",
            states=("started",),
            expected="active",
            direction="in",
            in_rows=True,
            confirmed_by=("answer", _always),
            arguments=lambda params: {"state": "active"},
        ),
        ActionKind(
            "reject",
            "Reject",
            past="rejected",
            asked="reject the call",
            states=("started",),
            expected="rejected",
            direction="in",
            confirm="Reject this call?",
            danger=True,
            in_rows=True,
            confirmed_by=("hangup", lambda data: data == "CALL_REJECTED"),
            arguments=lambda params: {"state": "rejected"},
        ),
        ActionKind(
            "hangup",
            "Hang up",
            past="hung up",
            asked="hang up",
            states=LIVE,
            expected="completed",
            confirm="Hang up this call?",
            danger=True,
            in_rows=True,
            confirmed_by=("hangup", _always),
            arguments=lambda params: {"state": "completed"},
        ),
        ActionKind(
            "record_on",
            "Start recording",
            past="recorded",
            asked="start recording",
            states=("active",),
            expected="recording-on",
            recording=False,
            confirmed_by=("recording", lambda data: data in ("start", "started", "")),
            arguments=_recording_on,
        ),
        ActionKind(
            "record_off",
            "Stop recording",
            past="stopped recording",
            asked="stop recording",
            states=("active",),
            expected="recording-off",
            recording=True,
            confirmed_by=(
                "recording",
                lambda data: data in ("stop", "stopped", "done", "complete", ""),
            ),
            arguments=lambda params: {"recording_enabled": False},
        ),
        ActionKind(
            "transfer",
            "Transfer",
            past="transferred",
            asked="transfer the call",
            states=("active",),
            confirmed_by=("transfer", _always),
            arguments=_transfer,
        ),
    )
}
# Not an action on a call, but audited like one.
PLACE_CALL = ActionKind("place_call", "Place call", past="placed", asked="place this call")
KINDS: dict[str, ActionKind] = {**ACTIONS, PLACE_CALL.name: PLACE_CALL}
ROW_ACTIONS = [kind for kind in ACTIONS.values() if kind.in_rows]


def label(name: str) -> str:
    kind = KINDS.get(name)
    return kind.label if kind else name


def row_actions(call) -> list[ActionKind]:
    """What a table row (or the ringing strip) offers for this call."""
    return [kind for kind in ROW_ACTIONS if kind.allowed_for(call)]

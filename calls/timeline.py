"""A call's timeline: its events as plain sentences, merged with operator actions.

The API's event list is not ordered, so everything is sorted by time here. Each
accepted operator action is paired with the first later event that confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from calls.catalog import KINDS
from calls.models import AuditEntry, Call, CallEvent
from calls.numbers import readable

CAUSES = {
    "NORMAL_CLEARING": "normal hangup",
    "ORIGINATOR_CANCEL": "caller gave up before answer",
    "USER_BUSY": "busy",
    "CALL_REJECTED": "rejected",
    "UNALLOCATED_NUMBER": "number does not exist",
    "NO_ANSWER": "not answered",
    "NORMAL_TEMPORARY_FAILURE": "temporary network failure",
}


@dataclass
class Entry:
    time: datetime
    kind: str  # "event" or "action"
    sentence: str
    event: CallEvent | None = None
    action: AuditEntry | None = None
    confirmed_by: Entry | None = field(default=None, repr=False)


def describe(event: CallEvent, call: Call, legs: dict[str, Call] | None = None) -> str:
    name, data = event.name, event.data or ""
    lower = name.lower()
    if lower == "incomingcall":  # from a callback, until the events read replaces it
        return f"Incoming call from {readable(call.from_number)}"
    if lower == "error":
        return "The call failed"
    if lower == "create":
        if call.direction == "in":
            return f"Incoming call from {readable(call.from_number)}"
        return f"Dialling {readable(call.to_number)}"
    if lower == "answer":
        seconds = int((event.time - call.start_time).total_seconds()) if call.start_time else None
        return f"Answered after {seconds} s" if seconds is not None and seconds >= 0 else "Answered"
    if lower == "hangup":
        if data == "CALL_REJECTED":
            return "Rejected — CALL_REJECTED"
        meaning = CAUSES.get(data)
        cause = f" — {data}" if data else ""
        return f"Hung up{cause}" + (f" ({meaning})" if meaning else "")
    if lower in ("playback", "speak"):
        what = "Playback" if lower == "playback" else "Speech"
        return f"{what} {'finished' if data in ('done', 'PLAYBACK_STOP') else 'started'}"
    if lower == "recording":
        stopped = data in ("stop", "stopped", "done", "complete")
        return "Recording stopped" if stopped else "Recording started"
    if lower == "timeout":
        return "Not answered in time"
    if lower == "dtmf":
        return f"Keypad: {data}" if data else "Keypad digit"
    if lower == "transfer":
        details = event.data_json if isinstance(event.data_json, dict) else {}
        leg = (legs or {}).get(str(details.get("callId")))
        target = details.get("transferTo") or (leg.to_number if leg else None)
        status = details.get("status")
        text = "Transfer" + (f" to {readable(str(target))}" if target else "")
        return f"{text} {status}" if status else text
    if lower in ("channel_execute", "channel_execute_complete"):
        json_data = event.data_json if isinstance(event.data_json, dict) else {}
        app = json_data.get("applicationName", "an application")
        arg = json_data.get("applicationData")
        verb = "finished" if lower.endswith("complete") else "ran"
        return f"Switch {verb} {app}" + (f" ({arg})" if arg else "")
    return f"{name}: {data}" if data else name


def action_sentence(entry: AuditEntry) -> str:
    kind = KINDS.get(entry.action)
    words = kind.asked if kind else entry.action
    who = entry.username or "someone"
    outcome = {
        AuditEntry.Outcome.ACCEPTED: "the API accepted",
        AuditEntry.Outcome.REFUSED: "the API refused",
        AuditEntry.Outcome.FAILED: "the API could not be reached",
        AuditEntry.Outcome.DENIED: "not sent",
    }[entry.outcome]
    return f"{who} asked to {words}: {outcome}"


def build(
    call: Call,
    events: list[CallEvent],
    actions: list[AuditEntry],
    legs: dict[str, Call] | None = None,
) -> list[Entry]:
    """The merged timeline; `legs` (by Catapult id) names the other party of transfers."""
    entries = [Entry(e.time, "event", describe(e, call, legs), event=e) for e in events]
    entries += [Entry(a.at, "action", action_sentence(a), action=a) for a in actions]
    entries.sort(key=lambda entry: (entry.time, entry.kind != "action"))
    for entry in entries:
        if entry.action and entry.action.outcome == AuditEntry.Outcome.ACCEPTED:
            entry.confirmed_by = _confirmation(entry.action, entries)
    return entries


# Catapult's clock and ours differ a little: an event stamped slightly before the moment
# we recorded the API's answer can still be the one that confirms it.
CLOCK_SKEW = timedelta(seconds=60)


def _confirmation(action: AuditEntry, entries: list[Entry]) -> Entry | None:
    kind = KINDS.get(action.action)
    rule = kind.confirmed_by if kind else None
    if rule is None:
        return None
    name, accepts = rule
    for entry in entries:
        event = entry.event
        if event is None or entry.time < action.at - CLOCK_SKEW:
            continue
        if event.name.lower() == name and accepts(event.data):
            return entry
    return None

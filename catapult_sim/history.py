"""Finished historical calls, built in bulk and kept compact.

A preload of 100,000 calls must take seconds and little memory, so a historical call
stores only its own fields; its call events are not stored at all but recomputed on
each read from a per-call seed. Event ids are derived from the call id and the event's
position, so they are the same on every read and `GET .../events/{id}` finds them.
Historical calls are final, so nothing can ever add an event to them.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

from . import profile
from .ids import derived_id
from .media import SAVING_MS, TRANSCRIBING_MS, TRANSCRIPT, exec_data
from .store import Call, Event, Recording, Transcription

if TYPE_CHECKING:
    from .simulator import Simulator

_KINDS = list(profile.SCENARIOS)
_CUMULATIVE = list(itertools.accumulate(profile.SCENARIOS.values()))
PARK = exec_data("park")


def build(
    sim: Simulator, n: int, events_per_call: int, span_ms: int, now_ms: int, rng: random.Random
) -> list[Call]:
    """`n` finished calls starting uniformly within `span_ms` before `now_ms`."""
    first = now_ms - span_ms
    return [
        _one(sim, rng, events_per_call, first + rng.random() * span_ms, now_ms) for _ in range(n)
    ]


def _one(sim: Simulator, rng: random.Random, events_per_call: int, t0: float, now_ms: int) -> Call:
    kind = rng.choices(_KINDS, cum_weights=_CUMULATIVE)[0]
    numbers = sim.numbers
    inbound = kind.startswith("inbound")
    own, other = numbers.own(rng), numbers.outside_party(rng)
    start = int(t0)
    call = Call(
        sim.ids.new("c"),
        "in" if inbound else "out",
        other if inbound else own,
        own if inbound else other,
        start,
    )
    call.tag = profile.pick_tag(rng)
    active = None
    state = "completed"
    if kind == "inbound_answered":
        active, end, cause = start, start + profile.talk_ms(rng), "NORMAL_CLEARING"
    elif kind == "inbound_ringing":
        if rng.random() < 0.5:  # an operator picked it up
            active = start + rng.randrange(5000, 20000)
            end, cause = active + profile.talk_ms(rng), "NORMAL_CLEARING"
        else:
            end = start + rng.randrange(20000, 60000)
            cause = "NO_ANSWER" if rng.random() < 0.3 else "ORIGINATOR_CANCEL"
    elif kind == "inbound_rejected":
        end, cause, state = start + rng.randrange(2000, 6000), "CALL_REJECTED", "rejected"
    else:
        call.call_timeout = 30
        call.sip_headers = profile.pick_sip_headers(rng)
        if kind == "outbound_answered":
            active = start + rng.randrange(3000, 15000)
            end, cause = active + profile.talk_ms(rng), "NORMAL_CLEARING"
        elif kind == "outbound_busy":
            end, cause = start + 1500, "USER_BUSY"
        elif kind == "outbound_no_answer":
            end, cause = start + 30_000, "NO_ANSWER"
        elif kind == "outbound_cancelled":
            end, cause = start + rng.randrange(8000, 15000), "ORIGINATOR_CANCEL"
        elif kind == "outbound_unallocated":
            end, cause = start + 1500, "UNALLOCATED_NUMBER"
        else:
            end, cause, state = start + 1500, "NORMAL_TEMPORARY_FAILURE", "error"
    # Every historical call has ended by now: shift late ones back in time.
    shift = max(0, end - (now_ms - 1000))
    call.start_ms = start - shift
    call.active_ms = active - shift if active is not None else None
    call.end_ms = end - shift
    call.state = state
    call.cause = cause
    if call.active_ms is not None and rng.random() < profile.RECORDED_SHARE:
        _add_recording(sim, call, rng)
    call.events = None
    call.history = (rng.getrandbits(32), events_per_call)
    return call


def _add_recording(sim: Simulator, call: Call, rng: random.Random) -> None:
    call.recording_enabled = True
    rec = Recording(sim.ids.new("rec"), call.id, 1, call.active_ms + 500, "wav")
    rec.end_ms = call.end_ms
    rec.state = "complete"
    call.recordings = [rec]
    if rng.random() < profile.TRANSCRIBED_SHARE:
        call.transcription_enabled = True
        done = call.end_ms + SAVING_MS + TRANSCRIBING_MS
        tr = Transcription(
            sim.ids.new("tr"), rec.id, done, max(1, (rec.end_ms - rec.start_ms) // 1000)
        )
        tr.state = "completed"
        tr.text = TRANSCRIPT
        call.transcriptions = [tr]


def events(call: Call) -> list[Event]:
    """Recompute a historical call's events (same result on every read)."""
    seed, wanted = call.history
    rng = random.Random(seed)
    out: list[Event] = []

    def add(ms: int, name: str, data: str | None = None) -> None:
        out.append((derived_id("ce", call.id, len(out)), ms, name, data))

    add(call.start_ms, "create")
    if call.active_ms is None:
        if call.cause == "NO_ANSWER":
            add(call.end_ms, "timeout")
        add(call.end_ms, "hangup", call.cause)
        return out
    begin, end = call.active_ms, call.end_ms
    add(begin, "answer")
    add(begin, "CHANNEL_EXECUTE", PARK)
    rec = call.recordings[0] if call.recordings else None
    if rec is not None:
        add(rec.start_ms, "recording", "start")
    # create, answer, park and hangup are always there (plus the two recording events);
    # media cycles (4 events) and key presses (1 event) fill up to the wanted count.
    fixed = 4 + (2 if rec is not None else 0)
    cycles, presses = divmod(max(0, wanted - fixed), 4)
    steps = ["media"] * cycles + ["digit"] * presses
    rng.shuffle(steps)
    step_ms = (end - begin) / (len(steps) + 1)
    for i, step in enumerate(steps):
        requested = begin + int(step_ms * (i + 0.2))
        if step == "digit":
            add(requested, "dtmf", rng.choice("0123456789"))
            continue
        media = rng.choice(profile.GREETINGS)
        started = requested + 300
        finished = started + min(int(step_ms * 0.7), 3000 + rng.randrange(9000))
        add(started, "CHANNEL_EXECUTE", exec_data("playback", media))
        add(requested, "playback", "start")
        add(requested, "playback", "done")
        add(finished, "CHANNEL_EXECUTE_COMPLETE", exec_data("playback", media))
    add(end, "hangup", call.cause)
    if rec is not None:
        add(end, "recording", "done")
    return out

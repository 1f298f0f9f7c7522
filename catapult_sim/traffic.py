"""Live traffic: a seeded stream of inbound and outbound calls, and the preload.

Everything goes through the scheduler (arrivals included), so with a ManualClock the
traffic is exactly reproducible, and with the real clock it runs on the scheduler thread.
Each scenario creates a call through the state machine and schedules what the remote
party and the application will do; those steps use the same transitions as API requests,
so a dashboard operator can step in (answer a ringing call, hang up) at any time.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from . import history, profile
from .store import Call

if TYPE_CHECKING:
    from .simulator import Simulator


class TrafficGenerator:
    def __init__(self, sim: Simulator, seed: int | str) -> None:
        self.sim = sim
        self.rng = random.Random(f"traffic:{seed}")
        self.history_rng = random.Random(f"history:{seed}")
        self.calls_per_minute: float | None = None
        self._generation = 0  # bumped on start/stop so stale arrivals cancel themselves

    # -- continuous traffic ------------------------------------------------------------

    def start(self, calls_per_minute: float, at: int) -> None:
        if calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        self._generation += 1
        self.calls_per_minute = calls_per_minute
        self._schedule_next(at, self._generation)

    def stop(self) -> None:
        self._generation += 1
        self.calls_per_minute = None

    def _schedule_next(self, at: int, generation: int) -> None:
        gap_ms = round(self.rng.expovariate(self.calls_per_minute / 60_000))
        self.sim.scheduler.at(at + gap_ms, self._arrival, generation)

    def _arrival(self, at: int, generation: int) -> None:
        if generation != self._generation:
            return
        self.spawn(at)
        self._schedule_next(at, generation)

    # -- scenarios ---------------------------------------------------------------------

    def spawn(self, at: int, scenario: str | None = None, talk_ms: int | None = None) -> Call:
        scenario = scenario or profile.pick_scenario(self.rng)
        talk = talk_ms if talk_ms is not None else profile.talk_ms(self.rng)
        if scenario.startswith("inbound"):
            return self._inbound(at, scenario, talk)
        return self._outbound(at, scenario.removeprefix("outbound_"), talk)

    def _act(self, at: int, method: str, call_id: str, *args: object) -> None:
        """A scheduled application step; refused steps (call already gone) are dropped."""
        engine = self.sim.engine
        getattr(engine, method)(engine.call(call_id), at, *args)

    def _later(self, at: int, method: str, call: Call, *args: object) -> None:
        self.sim.scheduler.at(at, self._act, method, call.id, *args)

    def _inbound(self, at: int, scenario: str, talk: int) -> Call:
        rng, numbers = self.rng, self.sim.numbers
        answered = scenario == "inbound_answered"
        call = self.sim.engine.create_inbound(
            numbers.outside_party(rng),
            numbers.own(rng),
            at,
            auto_answer=answered,
            tag=profile.pick_tag(rng),
            remote_talk_ms=talk,
        )
        if scenario == "inbound_ringing":
            # Nobody answers within 20-60 s: the caller gives up (sometimes via a timeout).
            gives_up = at + rng.randrange(20_000, 60_000)
            self.sim.scheduler.at(
                gives_up, self.sim.engine.caller_gives_up, call.id, rng.random() < 0.3
            )
        elif scenario == "inbound_rejected":
            self._later(at + rng.randrange(2000, 6000), "reject", call)
        else:
            self._conversation(call, at, talk, greeting=True)
        return call

    def _outbound(self, at: int, outcome: str, talk: int) -> Call:
        rng, numbers = self.rng, self.sim.numbers
        fields = {
            "from": numbers.own(rng),
            "to": numbers.outside_party(rng),
            "callTimeout": 30,
            "tag": profile.pick_tag(rng),
            "sipHeaders": profile.pick_sip_headers(rng),
            "recordingEnabled": rng.random() < profile.RECORDED_SHARE or None,
        }
        if fields["recordingEnabled"] and rng.random() < profile.TRANSCRIBED_SHARE:
            fields["transcriptionEnabled"] = True
        engine_outcome = {"answered": "answer", "cancelled": "pending"}.get(outcome, outcome)
        ring = rng.randrange(3000, 15000)
        call = self.sim.engine.create_outbound(
            fields, at, outcome=engine_outcome, answer_after_ms=ring, app_callbacks=True
        )
        call.remote_talk_ms = talk
        if outcome == "cancelled":
            self._later(at + rng.randrange(8000, 15000), "hangup", call)
        elif outcome == "answered":
            self._conversation(call, at + ring, talk, greeting=False)
        return call

    def _conversation(self, call: Call, answered_at: int, talk: int, greeting: bool) -> None:
        """What the application does once the call is answered."""
        rng = self.rng
        t = answered_at + 800
        if greeting:
            media = {"fileUrl": rng.choice(profile.GREETINGS), "loopEnabled": False}
        else:
            media = {"sentence": rng.choice(profile.SENTENCES), "loopEnabled": False}
        self._later(t, "play_audio", call, media)
        if call.direction == "in" and rng.random() < profile.RECORDED_SHARE:
            self._later(answered_at + 1500, "update", call, {"recordingEnabled": True})
        if rng.random() < 0.35:
            # The caller picks a menu option once the prompt has played.
            self._later(t + 9000, "press_digits", call, rng.choice("123"))
        if rng.random() < 0.1:
            # Put on hold: looping music that only stops when the call ends, which leaves
            # a CHANNEL_EXECUTE_COMPLETE after the hangup event (as in the docs' example).
            hold = {"fileUrl": profile.HOLD_MUSIC, "loopEnabled": True}
            self._later(answered_at + min(talk // 2, 20_000), "play_audio", call, hold)

    # -- preload -----------------------------------------------------------------------

    def preload(self, n_calls: int, events_per_call: int, span_ms: int, live: int, now: int):
        calls = history.build(self.sim, n_calls, events_per_call, span_ms, now, self.history_rng)
        self.sim.store.add_many(calls)
        ids = [c.id for c in calls]
        for _ in range(live):
            ids.append(self._live(now).id)
        # Replay the back-dated steps of the live calls, each at its own time.
        self.sim.scheduler.run_due()
        return ids

    def _live(self, now: int) -> Call:
        """A call that started a little while ago and is still going on."""
        rng = self.rng
        if rng.random() < 0.25:
            return self.spawn(now - rng.randrange(1000, 10_000), "inbound_ringing")
        start = now - rng.randrange(15_000, 240_000)
        talk = (now - start) + rng.randrange(15_000, 300_000)
        scenario = rng.choice(("inbound_answered", "outbound_answered"))
        return self.spawn(start, scenario, talk)

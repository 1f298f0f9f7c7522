"""What generated traffic looks like: the outcome mix, durations, tags and media.

Shared by the live traffic generator and the historical preload so both produce the same
kind of calls.
"""

from __future__ import annotations

import math
import random

# Scenario weights (they sum to 100, so each reads as a percentage).
SCENARIOS = {
    "inbound_answered": 34,  # auto-answered by the application: NORMAL_CLEARING
    "inbound_ringing": 12,  # waits 20-60 s for an operator, then ORIGINATOR_CANCEL / timeout
    "inbound_rejected": 4,  # the application refuses it: CALL_REJECTED
    "outbound_answered": 37,  # NORMAL_CLEARING
    "outbound_busy": 5,  # USER_BUSY
    "outbound_no_answer": 4,  # timeout, then NO_ANSWER
    "outbound_cancelled": 2,  # the application gives up while it rings: ORIGINATOR_CANCEL
    "outbound_unallocated": 1,  # UNALLOCATED_NUMBER
    "outbound_error": 1,  # state `error`
}

TAGS = (
    "support",
    "sales",
    "billing",
    "campaign-spring",
    "appointment-reminder",
    '{ "context": "ivr" }',
)

GREETINGS = (
    "https://example.com/audio/welcome.mp3",
    "https://example.com/audio/menu-options.wav",
    "https://example.com/audio/after-hours.mp3",
)
HOLD_MUSIC = "https://example.com/audio/hold-music.mp3"

SENTENCES = (
    "Hello, this is a reminder of your appointment tomorrow at ten.",
    "Your order has shipped and will arrive in two days.",
    "Please hold while we connect you to an agent.",
)

RECORDED_SHARE = 0.15
TRANSCRIBED_SHARE = 0.3  # of recorded calls
TAGGED_SHARE = 0.6
SIP_HEADER_SHARE = 0.1  # of outbound calls


def pick_scenario(rng: random.Random) -> str:
    return rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]


def talk_ms(rng: random.Random) -> int:
    """Seconds to a few minutes, median about 45 s (log-normal, clipped to 4 s - 8 min)."""
    seconds = math.exp(rng.gauss(math.log(45), 0.9))
    return round(min(480.0, max(4.0, seconds)) * 1000)


def pick_tag(rng: random.Random) -> str | None:
    return rng.choice(TAGS) if rng.random() < TAGGED_SHARE else None


def pick_sip_headers(rng: random.Random) -> dict[str, str] | None:
    if rng.random() >= SIP_HEADER_SHARE:
        return None
    return {"X-Customer-Id": f"CUST-{rng.randrange(10000, 99999)}", "X-Campaign": "spring"}

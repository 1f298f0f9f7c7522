"""In-memory resources and the indexes that make listing fast.

Calls are plain objects with __slots__ (a preload of 100,000 calls must stay compact).
`CallStore` keeps every call key `(startTime ms, id)` in one sorted list, plus one sorted
list per `from` and per `to` number, so a page of the newest-first listing is a slice:
O(page size), whatever the number of calls. Ties on startTime are broken by id, which
keeps the order stable between requests.

Locking: all state is guarded by one re-entrant lock owned by the Simulator and shared
by the HTTP threads, the scheduler and the traffic generator. The store does not lock by
itself; callers hold `Simulator.lock`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Event: (id, time ms, name, data or None). Tuples keep live calls' event lists small.
Event = tuple[str, int, str, str | None]

FINAL_STATES = frozenset({"completed", "rejected", "error"})
OPEN_STATES = frozenset({"started", "active", "transferring"})


class Call:
    __slots__ = (
        "id",
        "direction",
        "from_",
        "to",
        "state",
        "start_ms",
        "active_ms",
        "end_ms",
        "cause",
        "call_timeout",
        "callback_url",
        "callback_method",
        "callback_timeout",
        "fallback_url",
        "app_callbacks",
        "bridge_id",
        "conference_id",
        "recording_enabled",
        "recording_format",
        "recording_max",
        "transcription_enabled",
        "tag",
        "sip_headers",
        "transfer_to",
        "transfer_caller_id",
        "whisper_audio",
        "events",
        "history",
        "recordings",
        "transcriptions",
        "gathers",
        "current_recording",
        "media",
        "partner",
        "remote_talk_ms",
        "json_cache",
    )

    def __init__(self, call_id: str, direction: str, from_: str, to: str, start_ms: int) -> None:
        self.id = call_id
        self.direction = direction  # "in" or "out"
        self.from_ = from_
        self.to = to
        self.state = "started"
        self.start_ms = start_ms
        self.active_ms: int | None = None
        self.end_ms: int | None = None
        self.cause: str | None = None  # hangup cause once ended
        self.call_timeout: int | None = None
        self.callback_url: str | None = None
        self.callback_method: str | None = None
        self.callback_timeout: int | None = None
        self.fallback_url: str | None = None
        # True: callbacks go to the application's incomingCallUrl (inbound calls and the
        # legs they spawn), read at send time so the knob can change while calls run.
        self.app_callbacks = False
        self.bridge_id: str | None = None
        self.conference_id: str | None = None
        self.recording_enabled = False
        self.recording_format = "wav"
        self.recording_max: int | None = None
        self.transcription_enabled = False
        self.tag: str | None = None
        self.sip_headers: dict[str, str] | None = None
        self.transfer_to: str | None = None
        self.transfer_caller_id: str | None = None
        self.whisper_audio: dict | None = None
        # None means "historical call": its events are synthesized on read (history.py).
        self.events: list[Event] | None = []
        self.history: tuple[int, int] | None = None  # (event seed, events wanted)
        self.recordings: list[Recording] | None = None
        self.transcriptions: list[Transcription] | None = None
        self.gathers: dict[str, Gather] | None = None
        self.current_recording: Recording | None = None
        self.media: Media | None = None  # playback or speech in progress
        self.partner: str | None = None  # the other leg of a transfer
        # The simulated remote party hangs up this long after the call is answered.
        self.remote_talk_ms: int | None = None
        self.json_cache: bytes | None = None  # see render.call_list_body

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def key(self) -> tuple[int, str]:
        return (self.start_ms, self.id)


class Recording:
    __slots__ = ("id", "call_id", "number", "start_ms", "end_ms", "state", "file_format")

    def __init__(self, rec_id: str, call_id: str, number: int, start_ms: int, fmt: str) -> None:
        self.id = rec_id
        self.call_id = call_id
        self.number = number  # n in the media name {callId}-{n}.wav
        self.start_ms = start_ms
        self.end_ms: int | None = None
        self.state = "recording"
        self.file_format = fmt


class Transcription:
    __slots__ = ("id", "recording_id", "state", "text", "time_ms", "duration_s")

    def __init__(self, tr_id: str, recording_id: str, time_ms: int, duration_s: int) -> None:
        self.id = tr_id
        self.recording_id = recording_id
        self.state = "transcribing"
        self.text = ""
        self.time_ms = time_ms
        self.duration_s = duration_s


@dataclass
class Gather:
    id: str
    call_id: str
    created_ms: int
    max_digits: int | None
    inter_digit_timeout: int
    terminating_digits: str
    tag: str | None
    state: str = "started"
    reason: str | None = None
    digits: str = ""
    completed_ms: int | None = None


@dataclass
class Media:
    """A playback (`fileUrl`) or speech (`sentence`) running on a call."""

    kind: str  # "playback" or "speak"
    content: str
    requested_ms: int
    loop: bool
    tag: str | None
    token: int
    started: bool = False
    extra: dict = field(default_factory=dict)


class CallStore:
    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.recordings: dict[str, Recording] = {}
        self._order: list[tuple[int, str]] = []
        self._by_from: dict[str, list[tuple[int, str]]] = {}
        self._by_to: dict[str, list[tuple[int, str]]] = {}
        self._by_bridge: dict[str, list[str]] = {}
        self._by_conference: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.calls)

    def get(self, call_id: str) -> Call | None:
        return self.calls.get(call_id)

    def add(self, call: Call) -> None:
        self.calls[call.id] = call
        key = call.key
        bisect.insort(self._order, key)
        bisect.insort(self._by_from.setdefault(call.from_, []), key)
        bisect.insort(self._by_to.setdefault(call.to, []), key)
        self._index_groups(call)

    def add_many(self, calls: list[Call]) -> None:
        """Bulk insert (preload): append everything, then sort each touched list once."""
        touched_from: set[str] = set()
        touched_to: set[str] = set()
        for call in calls:
            self.calls[call.id] = call
            key = call.key
            self._order.append(key)
            self._by_from.setdefault(call.from_, []).append(key)
            self._by_to.setdefault(call.to, []).append(key)
            touched_from.add(call.from_)
            touched_to.add(call.to)
            self._index_groups(call)
            for rec in call.recordings or ():
                self.recordings[rec.id] = rec
        self._order.sort()
        for number in touched_from:
            self._by_from[number].sort()
        for number in touched_to:
            self._by_to[number].sort()

    def _index_groups(self, call: Call) -> None:
        if call.bridge_id:
            self._by_bridge.setdefault(call.bridge_id, []).append(call.id)
        if call.conference_id:
            self._by_conference.setdefault(call.conference_id, []).append(call.id)

    def add_recording(self, call: Call, rec: Recording) -> None:
        if call.recordings is None:
            call.recordings = []
        call.recordings.append(rec)
        self.recordings[rec.id] = rec

    def page(
        self, from_: str | None, to: str | None, page: int, size: int, desc: bool
    ) -> tuple[list[Call], bool]:
        """One page of calls by startTime; returns (calls, whether a next page exists)."""
        keys = self._candidates(from_, to)
        n = len(keys)
        if desc:
            hi = n - page * size
            lo = max(0, hi - size)
            chosen = keys[lo:hi][::-1] if hi > 0 else []
            has_next = lo > 0
        else:
            lo = page * size
            hi = min(n, lo + size)
            chosen = keys[lo:hi]
            has_next = hi < n
        return [self.calls[cid] for _, cid in chosen], has_next

    def _candidates(self, from_: str | None, to: str | None) -> list[tuple[int, str]]:
        if from_ is None and to is None:
            return self._order
        if to is None:
            return self._by_from.get(from_, [])
        if from_ is None:
            return self._by_to.get(to, [])
        # Both filters: walk the shorter list and check the other number.
        by_from = self._by_from.get(from_, [])
        by_to = self._by_to.get(to, [])
        if len(by_from) <= len(by_to):
            return [k for k in by_from if self.calls[k[1]].to == to]
        return [k for k in by_to if self.calls[k[1]].from_ == from_]

    def group(self, bridge_id: str | None, conference_id: str | None, desc: bool) -> list[Call]:
        """Calls of a bridge or conference: the API does not paginate these."""
        ids: set[str] | None = None
        for index, value in ((self._by_bridge, bridge_id), (self._by_conference, conference_id)):
            if value is not None:
                found = set(index.get(value, ()))
                ids = found if ids is None else ids & found
        calls = [self.calls[cid] for cid in ids or ()]
        calls.sort(key=lambda c: c.key, reverse=desc)
        return calls

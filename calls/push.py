"""Changes pushed to open pages: every writer of call state announces what changed.

Writers (callbacks, sync cycles, operator actions) append a short message to one Redis
Stream; each open page holds one server-sent-events stream (calls.stream) that reads it
from where the page last was. A Stream, not pub/sub, because a page that reconnects names
the last message it saw (`Last-Event-ID`) and gets what it missed, in order.

A message names what changed, never the data itself: the page re-renders the affected
regions through its own partials, with the viewer's own permissions.
"""

from __future__ import annotations

import json
import logging

import redis

from calls.locks import redis_client

log = logging.getLogger(__name__)

STREAM = "calls:changes"
# Enough for several minutes of a busy account: a page away longer refreshes whole.
STREAM_LENGTH = 5000
MAX_IDS = 50  # a message names at most this many calls; more is "everything changed"


def publish(kind: str, calls: dict[str, str] | None = None, **extra: str) -> None:
    """Announce a change: `kind` is "call" (state or timeline), "status" or "action";
    `calls` maps call ids to their state now. Redis trouble never stops a writer."""
    fields = {"kind": kind, **extra}
    if calls is not None:
        if len(calls) > MAX_IDS:
            fields["many"] = "1"
        else:
            fields["calls"] = json.dumps(calls, separators=(",", ":"))
    try:
        redis_client().xadd(STREAM, fields, maxlen=STREAM_LENGTH, approximate=True)
    except redis.RedisError as exc:
        log.warning("Could not announce a change (%s)", type(exc).__name__)


def message(entry_id: bytes | str, fields: dict) -> dict:
    """A stream entry as the page receives it."""
    decoded = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }
    calls = json.loads(decoded.pop("calls")) if "calls" in decoded else {}
    return {
        "id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        **decoded,
        "calls": calls,
    }

"""Counters every process adds to, kept in Redis, and the Prometheus text they are read as.

Counters live in one Redis hash, so /metrics gives the same numbers whichever web process
answers, and includes what the worker, beat and the other web processes counted. Gauges
(lag, queue depth, open streams) are read at scrape time from where they live.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

import redis

from calls.locks import redis_client

COUNTERS = "metrics:counters"
OPEN_STREAMS = "metrics:open-streams"

HELP = {
    "catapult_api_requests_total": "Requests sent to the Catapult API, by family and status",
    "catapult_budget_tokens_total": "Request-budget tokens spent, by priority",
    "catapult_callbacks_received_total": "Callbacks received, by event type",
    "catapult_callbacks_applied_total": "Callbacks applied to a call, by event type",
    "catapult_sync_cycles_total": "Sync cycles ended, by outcome",
}


def count(name: str, amount: int = 1, **labels: str) -> None:
    """Add to a counter. Redis trouble never stops the work being counted."""
    with contextlib.suppress(redis.RedisError):
        redis_client().hincrby(COUNTERS, _key(name, labels), amount)


class _Buffer:
    """Counts of something frequent (every API request), added up in the process and
    written to Redis at most once a second: a Redis round trip per request would cost a
    backfill more than its own database writes. At most a second's counts are in flight."""

    FLUSH_SECONDS = 1.0

    def __init__(self):
        self.pending: dict[str, int] = {}
        self.flushed = time.monotonic()
        self.lock = threading.Lock()

    def add(self, name: str, labels: dict[str, str]) -> None:
        key = _key(name, labels)
        with self.lock:
            self.pending[key] = self.pending.get(key, 0) + 1
            due = time.monotonic() - self.flushed >= self.FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
            self.flushed = time.monotonic()
        if not pending:
            return
        try:
            pipe = redis_client().pipeline(transaction=False)
            for key, amount in pending.items():
                pipe.hincrby(COUNTERS, key, amount)
            pipe.execute()
        except redis.RedisError:
            pass  # counts are for watching, never a reason to stop


_buffer = _Buffer()


def count_often(name: str, **labels: str) -> None:
    """count() for something that happens many times a second (see _Buffer)."""
    _buffer.add(name, labels)


def flush() -> None:
    """Write what count_often() holds (the end of a sync cycle, a test)."""
    _buffer.flush()


def stream_opened() -> None:
    with contextlib.suppress(redis.RedisError):
        redis_client().incr(OPEN_STREAMS)


def stream_closed() -> None:
    with contextlib.suppress(redis.RedisError):
        if redis_client().decr(OPEN_STREAMS) < 0:
            redis_client().set(OPEN_STREAMS, 0)


def _key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def oldest_task_age(queue: str = "celery") -> float | None:
    """Seconds the oldest waiting task has waited (its `sent_at` header, see celery.py)."""
    try:
        raw = redis_client().lindex(queue, -1)  # LPUSH in, BRPOP out: the oldest is last
    except redis.RedisError:
        return None
    if not raw:
        return 0.0
    try:
        sent_at = float(json.loads(raw)["headers"]["sent_at"])
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, time.time() - sent_at)


def exposition(
    gauges: dict[str, tuple[str, float | None]], extra: dict[str, int] | None = None
) -> str:
    """Prometheus text format: the Redis counters and `extra` ones (full key: value), then
    `gauges` (name: (help, value))."""
    lines: list[str] = []
    try:
        counters = {k.decode(): int(v) for k, v in redis_client().hgetall(COUNTERS).items()}
    except redis.RedisError:
        counters = {}
    counters.update(extra or {})
    by_name: dict[str, list[tuple[str, int]]] = {}
    for key, value in counters.items():
        by_name.setdefault(key.split("{", 1)[0], []).append((key, value))
    for name in sorted(set(by_name) | set(HELP)):
        lines.append(f"# HELP {name} {HELP.get(name, name)}")
        lines.append(f"# TYPE {name} counter")
        lines.extend(f"{key} {value}" for key, value in sorted(by_name.get(name, [])))
    for name, (text, value) in gauges.items():
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} gauge")
        if value is not None:
            lines.append(f"{name} {value:g}")
    return "\n".join(lines) + "\n"

"""The sync engine: keeps the local Call and CallEvent tables up to date with Catapult.

- `cycle`: one sync cycle (run by the beat-scheduled task), and `refresh_call`.
- `planner`: what a cycle reads, in priority order, within the request budget.
- `callbacks`: applying a Catapult callback to the database, with no API request.
- `writes`: idempotent upserts of calls and events.
- `bulk`: the fast write path under `writes` (COPY / executemany).
- `payloads`: API JSON -> model fields, keeping odd records instead of refusing them.
"""

from calls.sync.cycle import (
    last_watermark,
    read_events_now,
    refresh_call,
    run_cycle,
    sync_retry_policy,
    walk_cutoff,
)
from calls.sync.writes import EventRead, store_events, upsert_calls

__all__ = [
    "EventRead",
    "last_watermark",
    "read_events_now",
    "refresh_call",
    "run_cycle",
    "sync_retry_policy",
    "store_events",
    "upsert_calls",
    "walk_cutoff",
]

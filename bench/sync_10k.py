"""Benchmark: sync N simulated calls (about 8 events each) into an empty database.

Prints wall time, API requests and rows written per second. Not a test: figures vary with
the machine. Usage:

    .venv/bin/python bench/sync_10k.py                  # 10,000 calls into a fresh SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/sync_10k.py
    .venv/bin/python bench/sync_10k.py --calls 2000 --events 8

The simulator runs in this process on a loopback port (its rate limit off); Redis is
REDIS_URL or a private redis-server. With PostgreSQL the tables are dropped and re-created.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import backfill, empty_tables, prepare  # noqa: E402 - needs ROOT on the path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=8, help="events per call (about)")
    args = parser.parse_args()

    _, redis_server = prepare("sync-bench-")
    from django.conf import settings

    from calls import sync
    from calls.catapult import CatapultClient
    from calls.models import Call, CallEvent
    from catapult_sim.testing import running_simulator

    empty_tables()

    with running_simulator(
        user_id="u-bench", api_token="bench", api_secret="bench-secret", seed=1
    ) as sim:
        settings.CATAPULT_BASE_URL = sim.base_url
        settings.CATAPULT_USER_ID = "u-bench"
        settings.CATAPULT_API_TOKEN = "bench"
        settings.CATAPULT_API_SECRET = "bench-secret"
        settings.SYNC_LOCK_TIMEOUT_SECONDS = 3600  # one cycle may take the whole backfill

        started = time.perf_counter()
        sim.preload(args.calls, events_per_call=args.events)
        preload_s = time.perf_counter() - started

        client = CatapultClient.from_settings(retry=sync.sync_retry_policy())
        started = time.perf_counter()
        cycles = backfill(client)
        wall = time.perf_counter() - started

    calls = Call.objects.count()
    events = CallEvent.objects.count()
    rows = calls + events
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database            {engine}")
    print(f"calls / events      {calls:,} / {events:,}")
    print(f"simulator preload   {preload_s:.2f} s (not part of the sync)")
    print(f"sync cycles         {cycles}")
    print(f"wall time           {wall:.2f} s")
    print(f"API requests        {client.requests_made:,} ({client.requests_made / wall:,.0f}/s)")
    print(f"rows written        {rows:,} ({rows / wall:,.0f} rows/s)")
    if redis_server:
        redis_server.stop()


if __name__ == "__main__":
    main()

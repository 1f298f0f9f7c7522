"""What the benchmark scripts share: a throwaway environment and empty tables."""

import os
import tempfile
from pathlib import Path

CALL_TABLES = [
    "calls_callevent",
    "calls_auditentry",
    "calls_callbackevent",
    "calls_call",
    "calls_syncrun",
    # TRUNCATE fires no trigger: the rollups are emptied with the calls they count.
    "calls_callrollup",
    "calls_keyedrollup",
    "calls_rollupkey",
    "calls_concurrencypeak",
]


def prepare(prefix: str):
    """Point Django at a fresh state folder (SQLite unless DATABASE_URL says otherwise),
    start a private Redis unless REDIS_URL is set, set Django up and migrate.

    Returns (workdir, redis_server or None); the caller stops the server.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["STATE_DIR"] = str(workdir)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    for name in ("CATAPULT_USER_ID", "CATAPULT_API_TOKEN", "CATAPULT_API_SECRET"):
        os.environ.pop(name, None)  # the benchmarks talk to their own simulator

    from dashboard.embedded_redis import EmbeddedRedis, free_port

    redis_server = None
    if not os.environ.get("REDIS_URL"):
        redis_server = EmbeddedRedis(free_port(), workdir / "redis").start()
        os.environ["REDIS_URL"] = redis_server.url

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return workdir, redis_server


def empty_tables() -> None:
    """Start from no calls (a benchmark may point at a database used before)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(CALL_TABLES)} RESTART IDENTITY CASCADE")
        else:
            for table in CALL_TABLES:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names


def backfill(client) -> int:
    """Run sync cycles until every finished call's events are read; returns the cycles."""
    from calls import sync
    from calls.models import Call, SyncState

    cycles = 0
    while True:
        run = sync.run_cycle(client)
        cycles += 1
        if run.outcome != "success":
            raise SystemExit(f"cycle failed: {run.error}")
        unread = Call.objects.filter(events_pending=True).exclude(state__in=Call.LIVE_STATES)
        if not unread.exists() and not SyncState.get().backfill_next_url:
            return cycles


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database when it does not exist yet."""
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    try:  # a role that may only reach its own database is fine when that one exists
        psycopg.connect(url).close()
        return
    except psycopg.OperationalError:
        pass
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created the PostgreSQL database {name!r}", flush=True)

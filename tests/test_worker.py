"""The task path through a real Celery worker process, real Redis and the test database."""

import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from calls import sync
from calls.models import Call, CallEvent, SyncRun
from calls.sync.cycle import _EVENT_BATCH
from calls.tasks import sync_calls
from dashboard.celery import app
from tests.conftest import SIM_SECRET, SIM_TOKEN, SIM_USER

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def start_worker(sim, catapult_settings, redis_url):
    """Start a real Celery worker process on the test database; stopped after the test."""
    started = []

    def start(**extra_env):
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": redis_url,
            "CATAPULT_BASE_URL": sim.base_url,
            "CATAPULT_USER_ID": SIM_USER,
            "CATAPULT_API_TOKEN": SIM_TOKEN,
            "CATAPULT_API_SECRET": SIM_SECRET,
            "STATE_DIR": str(settings.STATE_DIR),
            # An account in the environment means Catapult's 1 request/s; the simulator has none.
            "CATAPULT_RATE_LIMIT": "0",
            **extra_env,
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        return proc

    app.conf.broker_url = redis_url
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
        output, _ = proc.communicate(timeout=20)
        # The worker's log must never carry the API secret.
        assert SIM_SECRET not in output
    # A killed worker leaves its task unacknowledged in Redis: leave nothing for others.
    client = redis.Redis.from_url(redis_url)
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_task_runs_a_cycle_in_a_real_worker(sim, start_worker):
    start_worker()
    sim.preload(40, events_per_call=8)
    sync_calls.delay()
    assert _wait_for(lambda: SyncRun.objects.filter(outcome=SyncRun.Outcome.SUCCESS).exists()), (
        list(SyncRun.objects.values("outcome", "error"))
    )
    assert Call.objects.count() == 40
    run = SyncRun.objects.get(outcome=SyncRun.Outcome.SUCCESS)
    assert run.calls_created == 40 and run.events_stored > 40 * 4


def test_worker_killed_mid_cycle_leaves_a_consistent_database(sim, start_worker):
    # Events are written a batch of calls at a time: three batches of slow calls (~4 s
    # each), and the worker is killed after the first.
    calls = 3 * _EVENT_BATCH
    sim.preload(calls, events_per_call=8)
    sim.faults.add("delay", path=r"/events$", count=None, delay=4 / _EVENT_BATCH)
    # The event phase stops at half the lock timeout: 20 s leaves it 10 s, well past the
    # first batch (~4 s), so the kill lands mid-cycle.
    worker = start_worker(SYNC_LOCK_TIMEOUT_SECONDS="20")
    sync_calls.delay()
    assert _wait_for(lambda: CallEvent.objects.count() > 0, timeout=60)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    sim.faults.clear()

    # Consistent: every call marked done has exactly the API's events; nothing half-written.
    for call in Call.objects.filter(events_pending=False):
        stored = set(call.events.values_list("catapult_id", flat=True))
        assert stored == {e["id"] for e in sim.events_snapshot(call.catapult_id)}
    assert SyncRun.objects.get().outcome == SyncRun.Outcome.RUNNING

    settings.SYNC_LOCK_TIMEOUT_SECONDS = 20
    assert sync.run_cycle().outcome == SyncRun.Outcome.SKIPPED  # the dead worker's lock
    assert _wait_for(lambda: sync.run_cycle().outcome == SyncRun.Outcome.SUCCESS, timeout=45)
    killed = SyncRun.objects.order_by("started_at").first()
    assert killed.outcome == SyncRun.Outcome.FAILED and "stopped" in killed.error
    assert Call.objects.count() == calls
    assert CallEvent.objects.count() == sum(
        len(sim.events_snapshot(c["id"])) for c in sim.calls_snapshot()
    )

"""The task path through a real Celery worker process, real Redis and the test database."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from calls.models import Call, SyncRun
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
def worker(sim, catapult_settings, redis_url):
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
    app.conf.broker_url = redis_url
    yield proc
    proc.terminate()
    output, _ = proc.communicate(timeout=20)
    # The worker's log must never carry the API secret.
    assert SIM_SECRET not in output


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_task_runs_a_cycle_in_a_real_worker(sim, worker):
    sim.preload(40, events_per_call=8)
    sync_calls.delay()
    assert _wait_for(lambda: SyncRun.objects.filter(outcome=SyncRun.Outcome.SUCCESS).exists()), (
        list(SyncRun.objects.values("outcome", "error"))
    )
    assert Call.objects.count() == 40
    run = SyncRun.objects.get(outcome=SyncRun.Outcome.SUCCESS)
    assert run.calls_created == 40 and run.events_stored > 40 * 4

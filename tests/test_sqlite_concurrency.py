"""SQLite: web, worker and beat writing at once must not fail with "database is locked"."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from calls.models import Call, SyncRun

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent

# Each writer process upserts its own calls page by page, records sync runs, and updates
# rows another writer also touches: the write pattern of worker, beat and web together.
WRITER = """
import sys, django
django.setup()
from datetime import timedelta
from django.utils import timezone
from calls import sync
from calls.models import Call, SyncRun
from calls.sync.payloads import call_fields
me = int(sys.argv[1])
now = timezone.now()
for batch in range(40):
    rows = []
    for i in range(25):
        n = batch * 25 + i
        rows.append(call_fields({
            "id": f"c-w{me}-{n}", "direction": "in", "from": "+19195550100",
            "to": "+19195550111", "state": "completed",
            "startTime": (now - timedelta(seconds=n)).isoformat(), "tag": f"batch {batch}",
        }))
    sync.upsert_calls(rows)
    SyncRun.objects.create(started_at=now, outcome="success")
    Call.objects.filter(catapult_id__startswith="c-w").update(synced_at=timezone.now())
print("ok")
"""


def test_three_writers_at_once_never_hit_database_is_locked():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's locking is what is tested here")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(me)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(3)
    ]
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert out.strip() == "ok"
        assert "database is locked" not in err
    assert Call.objects.count() == 3 * 40 * 25
    assert SyncRun.objects.count() == 3 * 40

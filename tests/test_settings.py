"""Settings come from the environment; a malformed value stops start-up naming it."""

import os
import subprocess
import sys

import pytest

from dashboard.celery import app

CHECK = "import django; django.setup(); from django.conf import settings; print('ok')"


def _start(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CATAPULT_", "SYNC_"))}
    return subprocess.run(
        [sys.executable, "-c", CHECK],
        env={**clean, "DJANGO_SETTINGS_MODULE": "dashboard.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SYNC_INTERVAL_SECONDS", "ten"),
        ("SYNC_INTERVAL_SECONDS", "0"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql-ish://nope"),
        ("REDIS_URL", "localhost:6379"),
        ("CATAPULT_BASE_URL", "ftp://example.invalid"),
        ("SYNC_PAGE_SIZE", "5000"),
    ],
)
def test_malformed_value_stops_start_up_naming_the_variable(name, value):
    result = _start(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_partial_account_names_what_is_missing():
    result = _start(CATAPULT_USER_ID="u-x", CATAPULT_API_TOKEN="t")
    assert result.returncode != 0 and "CATAPULT_API_SECRET" in result.stderr


def test_secret_in_a_bad_url_is_not_echoed():
    result = _start(CATAPULT_BASE_URL="gopher://user:sup3rsecret@host")
    assert "sup3rsecret" not in result.stderr and "CATAPULT_BASE_URL" in result.stderr


def test_defaults_start_in_demo_mode():
    result = _start()
    assert result.returncode == 0, result.stderr


def test_celery_configuration_invariants(settings):
    conf = app.conf
    assert conf.task_acks_late is True
    # acks_late alone loses a task whose pool child dies (SIGKILL, OOM): it is acked then.
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit <= settings.SYNC_LOCK_TIMEOUT_SECONDS
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert visibility > conf.task_time_limit
    entry = conf.beat_schedule["sync-calls"]
    assert entry["options"]["expires"] <= entry["schedule"]

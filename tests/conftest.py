"""Fixtures for talking to the real parts: Redis, the simulator over HTTP, a Celery worker."""

import os
from datetime import UTC, datetime

import pytest
import redis as redis_lib
from django.conf import settings

from calls.catapult import CatapultClient, RetryPolicy, health
from calls.locks import SYNC_LOCK_NAME
from calls.roles import OPERATOR, VIEWER, assign_role
from calls.sync.planner import WATCHED_KEY
from catapult_sim.clock import ManualClock
from catapult_sim.testing import running_simulator
from dashboard.celery import app as celery_app
from dashboard.embedded_redis import EmbeddedRedis, free_port


def pytest_sessionfinish(session, exitstatus):
    """SQLite's WAL side files outlive the test database pytest-django deletes."""
    name = settings.DATABASES["default"].get("TEST", {}).get("NAME") or ""
    for suffix in ("-wal", "-shm"):
        if name and os.path.exists(name + suffix) and not os.path.exists(name):
            os.remove(name + suffix)


SIM_USER = "u-test"
SIM_TOKEN = "test-token"
SIM_SECRET = "test-secret-value"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when the environment gives one (CI), else a private redis-server."""
    url = os.environ.get("REDIS_URL")
    server = None
    if not url:
        server = EmbeddedRedis(free_port(), tmp_path_factory.mktemp("redis")).start()
        url = server.url
    celery_app.conf.broker_url = url  # before anything opens a broker connection
    yield url
    if server:
        server.stop()


@pytest.fixture(autouse=True)
def _redis_settings(redis_url, settings):
    settings.REDIS_URL = redis_url
    # The request budget is off unless a test turns it on (tests of the budget do).
    settings.CATAPULT_RATE_LIMIT = 0
    client = redis_lib.Redis.from_url(redis_url)
    client.delete(SYNC_LOCK_NAME, WATCHED_KEY, health.KEY)
    for pattern in ("catapult:ratelimit*", "overview:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


def make_user(django_user_model, name, role):
    user = django_user_model.objects.create_user(name, password="pw-for-tests-1")
    assign_role(user, role)
    return user


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, "vera", VIEWER)


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, "otto", OPERATOR)


@pytest.fixture
def clock():
    # Starts at the real time so data looks current ("today" filters); moves only when told.
    return ManualClock(start=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def sim(clock):
    """A simulator on a loopback port with a manual clock: time moves only when told."""
    with running_simulator(
        user_id=SIM_USER, api_token=SIM_TOKEN, api_secret=SIM_SECRET, seed=7, clock=clock
    ) as simulator:
        yield simulator


@pytest.fixture
def catapult_settings(sim, settings):
    settings.CATAPULT_BASE_URL = sim.base_url
    settings.CATAPULT_USER_ID = SIM_USER
    settings.CATAPULT_API_TOKEN = SIM_TOKEN
    settings.CATAPULT_API_SECRET = SIM_SECRET
    settings.CATAPULT_READ_TIMEOUT = 5.0
    # Events of a call that ended are read by the next cycle, not SYNC_LATE_EVENTS_SECONDS
    # of real time later (tests of that delay set it themselves).
    settings.SYNC_LATE_EVENTS_SECONDS = 0
    return settings


@pytest.fixture
def no_sleep():
    """A sleep that records instead of waiting, for retry tests that assert the waits."""
    waits = []
    return waits, waits.append


@pytest.fixture
def client_for(sim):
    def make(retry: RetryPolicy | None = None, sleep=None, **kwargs) -> CatapultClient:
        extra = {"sleep": sleep} if sleep else {}
        return CatapultClient(
            sim.base_url,
            SIM_USER,
            SIM_TOKEN,
            SIM_SECRET,
            read_timeout=kwargs.get("read_timeout", 5.0),
            retry=retry or RetryPolicy(),
            **extra,
        )

    return make

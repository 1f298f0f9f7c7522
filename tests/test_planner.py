"""The planner under a real request budget: the list every cycle, ended calls before
history, history without starving live work, and no 429 in steady state."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls import sync
from calls.catapult import CatapultClient
from calls.catapult.budget import RateLimiter
from calls.locks import redis_client
from calls.models import Call, SyncRun, SyncState
from calls.sync import planner

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget(catapult_settings, sim):
    """Catapult's limit, scaled up 5x so the test takes seconds, on both sides."""
    catapult_settings.CATAPULT_RATE_LIMIT = 5.0
    catapult_settings.SYNC_CYCLE_SECONDS = 1.2
    catapult_settings.SYNC_PAGE_SIZE = 10
    sim.faults.rate_limit(requests_per_second=5)
    return catapult_settings


def test_live_calls_stay_fresh_while_history_is_backfilled(budget, sim):
    sim.preload(200, events_per_call=3)
    limiter = RateLimiter(redis_client(), 5.0)
    for _ in range(4):  # the newest page's calls' events first, then history begins
        run = sync.run_cycle()
        assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
        if limiter.spent("calls").get("backfill"):
            break
    assert SyncState.get().backfill_next_url  # far from done: 20 pages and 190 event reads
    new = sim.create_inbound_call(auto_answer=False)
    cycles = SyncRun.objects.count()
    during = sync.run_cycle()
    assert Call.objects.get(catapult_id=new).state == "started"  # the list came first
    assert during.api_requests <= 8  # ~1.2 s of a 5/s budget, and the request under way
    assert sim.stats()["by_status"].get(429, 0) == 0
    assert limiter.spent("calls")["list"] == cycles + 1  # every cycle read the list


def test_ended_calls_are_read_before_history(budget, sim):
    sim.preload(200, events_per_call=3)
    sync.run_cycle()
    live = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    sim.hangup(live)
    run = sync.run_cycle()  # history is still waiting, but the call that ended goes first
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    call = Call.objects.get(catapult_id=live)
    assert call.events_synced_at is not None and not call.events_pending
    assert planner.events_backlog()["history"] > 0


def test_an_opened_live_call_is_read_at_once_and_then_with_spare_budget(
    client, operator, catapult_settings, sim
):
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    sim.reset_stats()
    client.force_login(operator)
    body = client.get(f"/calls/{call_id}/").content.decode()
    assert sim.stats()["by_route"].get("GET /calls/{id}/events") == 1  # read for the operator
    assert "Incoming call" in body or "Answered" in body
    assert call_id in planner.watched_calls()
    catapult_settings.SYNC_LIVE_EVENTS_SECONDS = 1
    Call.objects.filter(catapult_id=call_id).update(
        events_synced_at=timezone.now() - timedelta(minutes=5)
    )
    sim.reset_stats()
    sync.run_cycle()  # spare budget: the open live call's events again
    assert sim.stats()["by_route"].get("GET /calls/{id}/events") == 1


def test_a_refresh_waits_only_for_the_budget_not_behind_the_sync(budget, sim, client, operator):
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    client.force_login(operator)
    response = client.post(f"/calls/{call_id}/refresh/")
    assert response.status_code == 200
    spent = RateLimiter(redis_client(), 5.0).spent("calls")
    assert spent.get("waiting") == 2  # the call and its events, as an operator waits


def test_a_client_made_from_settings_shares_the_budget(budget):
    client = CatapultClient.from_settings()
    assert client.limiter is not None and client.health is not None

"""The sync engine against the simulator over HTTP, on the test database."""

import threading
import time
from datetime import timedelta

import pytest
import redis
from django.core.management import call_command
from django.db import connection

from calls import sync
from calls.catapult import CatapultClient, RetryPolicy
from calls.locks import SYNC_LOCK_NAME
from calls.models import Call, CallEvent, SyncRun, SyncState
from calls.sync.cycle import _locked_cycle
from calls.sync.cycle import timezone as sync_timezone

pytestmark = pytest.mark.django_db


def _snapshot():
    calls = sorted(Call.objects.values_list("catapult_id", "state", "raw", "hangup_cause"))
    events = sorted(
        CallEvent.objects.values_list("call__catapult_id", "catapult_id", "name", "data")
    )
    return calls, events


def _stored_events():
    return sorted(CallEvent.objects.values_list("call__catapult_id", "catapult_id"))


def _sim_events(sim):
    return sorted(
        (call["id"], event["id"])
        for call in sim.calls_snapshot()
        for event in sim.events_snapshot(call["id"])
    )


def test_first_cycle_reads_the_newest_page_then_backfills_history(sim, catapult_settings):
    catapult_settings.SYNC_PAGE_SIZE = 100
    sim.preload(250, events_per_call=8)
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert (run.pages, run.backfill_pages) == (1, 2)  # the newest page, then history
    assert SyncState.get().backfill_done_at is not None
    assert SyncState.get().backfill_calls == 150
    assert run.calls_created == 250 and Call.objects.count() == 250
    assert run.events_stored == CallEvent.objects.count() == len(_sim_events(sim))
    assert run.api_requests == 3 + 250  # list pages + one event list per call
    assert sorted(CallEvent.objects.values_list("call__catapult_id", "catapult_id")) == _sim_events(
        sim
    )
    assert not Call.objects.filter(events_pending=True).exists()


def test_cycle_run_twice_gives_the_same_database(sim, catapult_settings):
    sim.preload(120, events_per_call=8, live=5)
    first = sync.run_cycle()
    before = _snapshot()
    second = sync.run_cycle()
    assert first.outcome == second.outcome == SyncRun.Outcome.SUCCESS
    assert _snapshot() == before
    assert (second.calls_created, second.calls_updated, second.events_stored) == (0, 0, 0)
    # The second cycle reads one page: the list carries the live calls' state, and their
    # events are read when they end (or when someone opens one).
    assert second.api_requests == 1


def test_call_that_completes_is_updated_next_cycle(sim, catapult_settings):
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    call = Call.objects.get(catapult_id=call_id)
    assert call.state == "active" and call.events_pending
    sim.advance(42)
    sim.hangup(call_id, cause="NORMAL_CLEARING")
    run = sync.run_cycle()
    call.refresh_from_db()
    assert run.calls_updated == 1
    assert call.state == "completed" and call.end_time is not None
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.events.filter(name="hangup").count() == 1
    assert not call.events_pending  # final and read once more: never fetched again
    third = sync.run_cycle()
    assert third.api_requests == 1


def test_events_are_not_duplicated(sim, catapult_settings):
    live = [sim.create_inbound_call(auto_answer=True) for _ in range(3)]
    for _ in range(4):
        sim.advance(5)
        sync.run_cycle()
    for call_id in live:
        sim.hangup(call_id)
    sync.run_cycle()
    sync.run_cycle()
    stored = list(CallEvent.objects.values_list("call__catapult_id", "catapult_id"))
    assert len(stored) == len(set(stored))
    assert sorted(stored) == _sim_events(sim)


def test_live_call_beyond_the_walk_is_fetched_by_id(sim, catapult_settings):
    catapult_settings.SYNC_PAGE_SIZE = 10
    catapult_settings.SYNC_LOOKBACK_SECONDS = 0
    catapult_settings.SYNC_MAX_WALK_BACK_SECONDS = 60
    old_live = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    sim.advance(3600)  # an hour later, 30 newer calls arrive and are synced
    sim.preload(30, events_per_call=1, span=timedelta(seconds=60))
    sync.run_cycle()
    sim.advance(10)
    sim.hangup(old_live)  # the hour-old call ends, far behind the newest calls
    sim.reset_stats()
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert Call.objects.get(catapult_id=old_live).state == "completed"
    by_route = sim.stats()["by_route"]
    assert by_route.get("GET /calls/{id}") == 1


def test_rate_limit_in_the_middle_of_a_cycle_is_waited_out(sim, catapult_settings):
    catapult_settings.SYNC_PAGE_SIZE = 10
    sim.preload(25, events_per_call=2)
    sim.faults.add("rate_limited", path=r"/calls$", count=1, delay=1.0)
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert Call.objects.count() == 25
    assert sim.stats()["by_status"].get(429) == 1


@pytest.mark.parametrize("kind", ["truncated", "non_json", "wrong_shape"])
def test_a_bad_body_on_a_get_is_retried_like_a_5xx(sim, catapult_settings, kind):
    catapult_settings.SYNC_PAGE_SIZE = 10
    sim.preload(25, events_per_call=2)
    sim.faults.add(kind, path=r"/calls$", count=1, after=1)  # the second page, once
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.api_errors == 1
    assert Call.objects.count() == 25


@pytest.mark.parametrize("kind", ["truncated", "non_json", "wrong_shape"])
def test_a_page_that_stays_bad_leaves_a_partial_cycle_the_next_continues(
    sim, catapult_settings, kind
):
    catapult_settings.SYNC_PAGE_SIZE = 10
    catapult_settings.SYNC_MAX_RETRIES = 1
    sim.preload(25, events_per_call=2)
    sim.faults.add(kind, path=r"/calls$", count=None, after=1)  # every later list read
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert "Reading history" in run.error
    # The newest page and its calls' events are in; nothing of the bad page was written.
    assert Call.objects.count() == 10
    stored = set(Call.objects.values_list("catapult_id", flat=True))
    assert _stored_events() == [e for e in _sim_events(sim) if e[0] in stored]
    assert SyncState.get().backfill_next_url  # where the next cycle goes on
    sim.faults.clear()
    good = sync.run_cycle()
    assert good.outcome == SyncRun.Outcome.SUCCESS, good.error
    assert Call.objects.count() == 25
    assert CallEvent.objects.count() == len(_sim_events(sim))


def test_an_event_list_that_stays_bad_holds_back_only_that_call(sim, catapult_settings):
    catapult_settings.SYNC_MAX_RETRIES = 1
    sim.preload(5, events_per_call=3)
    bad = sorted(c["id"] for c in sim.calls_snapshot())[0]
    sim.faults.add("truncated", path=rf"/calls/{bad}/events$", count=None)
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.PARTIAL
    assert bad in run.error
    # The bad one is tried again later (SYNC_RETRY_EVENTS_SECONDS), after the others.
    assert Call.objects.get(catapult_id=bad).events_pending
    assert _stored_events() == [e for e in _sim_events(sim) if e[0] != bad]
    sim.faults.clear()
    Call.objects.filter(catapult_id=bad).update(events_due_at=sync_timezone.now())
    sync.run_cycle()
    assert sorted(CallEvent.objects.values_list("call__catapult_id", "catapult_id")) == _sim_events(
        sim
    )


def test_api_down_is_recorded_in_plain_words(sim, catapult_settings):
    catapult_settings.SYNC_MAX_RETRIES = 1
    sim.faults.add("error", path=r"/calls$", status=503, count=None)
    run = sync.run_cycle(
        CatapultClient.from_settings(retry=RetryPolicy(attempts=1, backoff_base=0.01))
    )
    assert run.outcome == SyncRun.Outcome.FAILED
    assert run.error and run.api_requests == 2
    assert catapult_settings.CATAPULT_API_SECRET not in run.error


def test_a_cycle_is_skipped_while_another_holds_the_lock(sim, catapult_settings, redis_url):
    holder = redis.Redis.from_url(redis_url).lock(SYNC_LOCK_NAME, timeout=30)
    assert holder.acquire(blocking=False)
    try:
        run = sync.run_cycle()
    finally:
        holder.release()
    assert run.outcome == SyncRun.Outcome.SKIPPED
    assert sim.stats()["requests"] == 0


def test_the_lock_expires_when_its_holder_dies(sim, catapult_settings, redis_url):
    catapult_settings.SYNC_LOCK_TIMEOUT_SECONDS = 1
    # A worker that took the lock and died: nobody will release it.
    redis.Redis.from_url(redis_url).lock(SYNC_LOCK_NAME, timeout=1).acquire(blocking=False)
    assert sync.run_cycle().outcome == SyncRun.Outcome.SKIPPED

    time.sleep(1.2)
    assert sync.run_cycle().outcome == SyncRun.Outcome.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_two_cycles_at_once_only_one_runs(sim, catapult_settings):
    sim.preload(60, events_per_call=4)
    sim.faults.add("delay", path=r"/calls$", count=1, delay=0.5)  # keep the first one busy
    runs = []

    def cycle():
        runs.append(sync.run_cycle())
        connection.close()

    threads = [threading.Thread(target=cycle) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(run.outcome for run in runs)
    assert outcomes == [SyncRun.Outcome.SKIPPED, SyncRun.Outcome.SUCCESS]
    assert Call.objects.count() == 60
    assert CallEvent.objects.count() == len(_sim_events(sim))


def test_upserts_are_idempotent_without_the_lock(sim, catapult_settings):
    """Even two cycles that both ran (lock lost) leave no duplicates."""
    sim.preload(30, events_per_call=3)
    client = CatapultClient.from_settings()
    _locked_cycle(client, sync_timezone.now())
    Call.objects.update(events_due_at=sync_timezone.now())
    _locked_cycle(client, sync_timezone.now())
    assert Call.objects.count() == 30
    assert CallEvent.objects.count() == len(_sim_events(sim))


def test_sync_calls_command_prints_a_summary(sim, catapult_settings, capsys):
    sim.preload(4, events_per_call=2)
    call_command("sync_calls")
    out = capsys.readouterr().out
    assert "Succeeded" in out and "4 calls new" in out


def test_callback_password_is_never_stored(sim, catapult_settings, client_for):
    client = client_for()
    client.create_call(
        from_=sim.account_numbers[0],
        to="+19195550100",
        callbackUrl="http://hook:hunter2-secret@127.0.0.1:9/cb",
    )
    sync.run_cycle()
    call = Call.objects.get()
    assert "hunter2-secret" not in call.callback_url
    assert "hunter2-secret" not in str(call.raw)
    assert call.callback_url == "http://hook:***@127.0.0.1:9/cb"


def test_odd_records_are_kept_and_flagged_and_block_nothing(sim, catapult_settings):
    """NUL characters, an unknown state, an over-long number: each call is stored with what
    can be kept, its payload as received beside it, and every other call syncs."""
    nul, odd_state, long_from = (sim.create_inbound_call(auto_answer=True) for _ in range(3))
    normal = sim.create_inbound_call(auto_answer=True)
    with sim.lock:
        sim.store.calls[nul].tag = "bad\u0000tag"
        sim.store.calls[odd_state].state = "parked-by-carrier"
        sim.store.calls[long_from].from_ = "+1" + "9" * 300
        for call_id in (nul, odd_state, long_from):
            sim.store.calls[call_id].json_cache = None
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.warnings == 3
    assert Call.objects.count() == 4 and Call.objects.get(catapult_id=normal).oddities == []
    stored = Call.objects.get(catapult_id=nul)
    assert stored.tag == "bad\ufffdtag" and "NUL" in stored.oddities[0]
    assert "\\u0000" in stored.raw_original  # as received, escaped
    weird = Call.objects.get(catapult_id=odd_state)
    assert weird.state == "parked-by-carrie"  # as sent, cut to the column's 16 characters
    assert any("Unknown state" in text for text in weird.oddities)
    assert len(Call.objects.get(catapult_id=long_from).from_number) == 255
    assert sync.run_cycle().outcome == SyncRun.Outcome.SUCCESS


def test_events_of_an_ended_call_are_read_once_after_the_late_events(sim, catapult_settings, clock):
    catapult_settings.SYNC_LATE_EVENTS_SECONDS = 1
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    clock.set_ms(int(time.time() * 1000))  # it ends now, by our clock too
    sim.hangup(call_id)
    ended = sync.run_cycle()  # sees the hangup in the list; the events read is due later
    assert ended.api_requests == 1
    assert Call.objects.get(catapult_id=call_id).events_due_at is not None
    sim.add_late_event(call_id, "recording", "complete", seconds_ago=1)
    time.sleep(1.1)
    late = sync.run_cycle()
    assert late.api_requests == 2  # one list page + the one events read
    assert sorted(CallEvent.objects.values_list("call__catapult_id", "catapult_id")) == _sim_events(
        sim
    )
    assert Call.objects.get(catapult_id=call_id).events_due_at is None
    assert sync.run_cycle().api_requests == 1  # and never again


def test_calls_first_seen_finished_are_not_reread(sim, catapult_settings):
    sim.preload(20, events_per_call=3)
    sync.run_cycle()
    assert not Call.objects.filter(events_due_at__isnull=False).exists()

"""Defects found on review of the operator actions, each pinned by a test."""

import threading
import time

import pytest
from django.db import connection

from calls import actions, locks
from calls.catapult import CatapultClient
from calls.catapult.budget import Priority
from calls.models import AuditEntry, Call
from calls.sync import refresh_call
from calls.views import status_for


@pytest.mark.django_db(transaction=True)
def test_a_second_click_in_the_gap_after_the_first_is_not_sent_again(
    operator, catapult_settings, sim, monkeypatch
):
    """The second click arrives while the first has released its lock but not yet written
    its ACCEPTED row: it must see the first one and send nothing."""
    call_id = sim.create_inbound_call(auto_answer=False)
    refresh_call(CatapultClient.from_settings(), call_id)
    release = locks.release
    second_done = threading.Event()

    def slow_release(lock):
        release(lock)
        if not second_done.is_set():  # widen the gap after the first click's release
            time.sleep(0.5)

    monkeypatch.setattr(locks, "release", slow_release)
    results = []

    def click(delay):
        time.sleep(delay)
        call = Call.objects.get(catapult_id=call_id)
        results.append(actions.perform(operator, call, "answer"))
        connection.close()

    first = threading.Thread(target=click, args=(0,))
    second = threading.Thread(target=click, args=(0.2,))
    sim.faults.add("delay", method="POST", count=1, delay=0.1)
    sim.reset_stats()
    first.start()
    second.start()
    second.join()
    second_done.set()
    first.join()
    assert sim.stats()["by_route"].get("POST /calls/{id}") == 1
    assert sorted(r.entry.outcome for r in results) == ["accepted", "denied"]


def test_the_status_of_a_refusal_comes_from_its_reason_not_its_words():
    entry = AuditEntry(outcome=AuditEntry.Outcome.DENIED, message="The role of this call: no")
    assert status_for(actions.ActionResult(entry, reason="state")) == 409
    assert status_for(actions.ActionResult(entry, reason="role")) == 403


def test_operator_requests_reuse_one_client_per_thread(catapult_settings):
    first = CatapultClient.for_operators(Priority.WAITING)
    assert CatapultClient.for_operators(Priority.WAITING) is first
    assert CatapultClient.for_operators(Priority.ACTION) is not first
    catapult_settings.CATAPULT_BASE_URL = "http://127.0.0.1:9"
    assert CatapultClient.for_operators(Priority.WAITING) is not first  # settings changed


def test_one_redis_pool_per_process(settings):
    assert locks.redis_client() is locks.redis_client()

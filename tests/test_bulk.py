"""calls.bulk: the sync's set-based writes, on the test database (SQLite or PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from calls.models import Call, CallEvent
from calls.sync import bulk

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True, params=["staged", "plain"])
def write_path(request, monkeypatch):
    """Every test on both PostgreSQL paths: COPY through a staging table, and the plain
    statements used for a few rows (SQLite always takes the plain one)."""
    monkeypatch.setattr(bulk, "STAGE_FROM_ROWS", 1 if request.param == "staged" else 10**9)


def _call_row(catapult_id: str, **overrides) -> dict:
    row = {
        "catapult_id": catapult_id,
        "direction": "in",
        "from_number": "+19195550100",
        "to_number": "+17045550111",
        "from_digits": "19195550100",
        "to_digits": "17045550111",
        "from_digits_rev": "00105559191",
        "to_digits_rev": "11105554071",
        "state": "completed",
        "start_time": T0,
        "active_time": None,
        "end_time": T0 + timedelta(seconds=90),
        "chargeable_duration": 120,
        "duration": None,
        "call_timeout": None,
        "callback_url": "",
        "callback_http_method": "",
        "callback_timeout": None,
        "fallback_url": "",
        "recording_enabled": False,
        "has_recording": False,
        "recording_file_format": "",
        "transcription_enabled": False,
        "tag": "",
        "sip_headers": {},
        "bridge_id": "",
        "conference_id": "",
        "hangup_cause": "",
        "raw": {"id": catapult_id},
        "first_seen_at": T0,
        "synced_at": T0,
        "events_pending": True,
        "events_synced_at": None,
        "events_due_at": None,
        "state_changed_at": T0,
        "oddities": [],
        "raw_original": "",
    }
    return {**row, **overrides}


def _event_row(call_pk: int, catapult_id: str, **overrides) -> dict:
    row = {
        "call_id": call_pk,
        "catapult_id": catapult_id,
        "name": "speak",
        "time": T0,
        "data": "",
        "data_json": None,
        "source": "api",
        "received_at": None,
        "oddity": "",
    }
    return {**row, **overrides}


def test_insert_stores_every_value_as_given():
    tricky = "tab\there, newline\nthere, backslash \\ and \\N, quote ' and \" and é☎"
    row = _call_row(
        "c-1",
        tag=tricky,
        sip_headers={"X-Note": tricky},
        raw={"id": "c-1", "nested": [1, None, {"a": tricky}]},
        active_time=T0 + timedelta(microseconds=1),
        duration=0,
    )
    assert bulk.insert(Call, [row], unique=["catapult_id"]) == 1
    call = Call.objects.get(catapult_id="c-1")
    for name, value in row.items():
        assert getattr(call, name) == value, name


def test_insert_without_update_keeps_stored_rows_and_counts_only_new_ones():
    call = Call.objects.create(**_call_row("c-1"))
    first = [_event_row(call.pk, "e-1", data="first"), _event_row(call.pk, "e-2")]
    assert bulk.insert(CallEvent, first, unique=["call_id", "catapult_id"]) == 2
    again = [
        _event_row(call.pk, "e-1", data="changed"),
        _event_row(call.pk, "e-3", data='{"a": 1}', data_json={"a": 1}),
        _event_row(call.pk, "e-3", data="duplicate in the same batch"),
    ]
    assert bulk.insert(CallEvent, again, unique=["call_id", "catapult_id"]) == 1
    stored = dict(CallEvent.objects.values_list("catapult_id", "data"))
    assert stored == {"e-1": "first", "e-2": "", "e-3": '{"a": 1}'}
    assert CallEvent.objects.get(catapult_id="e-3").data_json == {"a": 1}
    assert CallEvent.objects.filter(catapult_id="e-1", data_json__isnull=True).exists()


def test_upsert_sets_only_the_update_columns_and_the_last_duplicate_wins():
    bulk.insert(Call, [_call_row("c-1", hangup_cause="busy")], unique=["catapult_id"])
    later = T0 + timedelta(hours=1)
    rows = [
        _call_row("c-1", state="active", first_seen_at=later, hangup_cause=""),
        _call_row("c-1", state="completed", tag="last", first_seen_at=later, hangup_cause=""),
        _call_row("c-2"),
    ]
    written = bulk.insert(Call, rows, unique=["catapult_id"], update=["state", "tag"])
    assert written == 2
    call = Call.objects.get(catapult_id="c-1")
    assert (call.state, call.tag) == ("completed", "last")
    assert (call.first_seen_at, call.hangup_cause) == (T0, "busy")  # not update columns
    assert Call.objects.count() == 2


def test_update_sets_each_rows_own_values_by_primary_key():
    bulk.insert(Call, [_call_row(f"c-{i}") for i in range(3)], unique=["catapult_id"])
    pks = dict(Call.objects.values_list("catapult_id", "pk"))
    recheck = T0 + timedelta(minutes=1)
    flags = [
        {"pk": pks["c-0"], "events_pending": False, "events_due_at": recheck},
        {"pk": pks["c-2"], "events_pending": False, "events_due_at": None},
    ]
    assert bulk.update(Call, flags) == 2
    got = {c.catapult_id: (c.events_pending, c.events_due_at) for c in Call.objects.all()}
    assert got == {"c-0": (False, recheck), "c-1": (True, None), "c-2": (False, None)}
    twice = [{"pk": pks["c-1"], "tag": "first"}, {"pk": pks["c-1"], "tag": "last"}]
    assert bulk.update(Call, twice) == 1
    assert Call.objects.get(pk=pks["c-1"]).tag == "last"


def test_writes_in_one_transaction_do_not_leak_into_each_other():
    # On PostgreSQL rows pass through a staging table that is only emptied at commit:
    # a second write in the same transaction must not apply the first one's rows again.
    with transaction.atomic():
        bulk.insert(Call, [_call_row("c-1", tag="one")], unique=["catapult_id"])
        bulk.insert(Call, [_call_row("c-1", tag="two")], unique=["catapult_id"], update=["tag"])
        bulk.insert(Call, [_call_row("c-2", tag="x")], unique=["catapult_id"], update=["tag"])
    assert dict(Call.objects.values_list("catapult_id", "tag")) == {"c-1": "two", "c-2": "x"}


def test_a_write_rolled_back_leaves_nothing_behind():
    with pytest.raises(RuntimeError), transaction.atomic():
        bulk.insert(Call, [_call_row("c-1")], unique=["catapult_id"])
        raise RuntimeError
    bulk.insert(Call, [_call_row("c-2")], unique=["catapult_id"])
    assert list(Call.objects.values_list("catapult_id", flat=True)) == ["c-2"]


def test_empty_input_writes_nothing():
    assert bulk.insert(Call, [], unique=["catapult_id"]) == 0
    assert bulk.update(Call, []) == 0

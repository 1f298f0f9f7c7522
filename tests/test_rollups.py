"""Rollups stay equal to a plain count over the calls, whatever the writers do, and the
cached concurrency peaks stay equal to a fresh sweep."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls import callbacks
from calls.analytics import concurrency, rollups
from calls.models import Call, CallRollup, ConcurrencyPeak, KeyedRollup, RollupKey
from calls.sync import payloads, writes
from calls.sync.callbacks import apply as apply_callback

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STATES = ["started", "active", "transferring", "completed", "rejected", "error", "parked"]
CAUSES = ["", "NORMAL_CLEARING", "USER_BUSY", "NO_ANSWER", "CALL_REJECTED"]


def counted_from_calls() -> dict:
    """What the rollups must hold: a GROUP BY over the calls, in plain SQL."""
    result = {}
    for row in rollups.from_calls(Call.objects.all()):
        key = (row.bucket, row.direction, row.state, row.cause)
        result[key] = (row.calls, row.answered, row.timed, row.talk, row.charge)
    return result


def held_by_rollups() -> dict:
    return {
        (r.bucket, r.direction, r.state, r.hangup_cause): (
            r.calls,
            r.answered,
            r.timed,
            r.talk_seconds,
            r.chargeable_seconds,
        )
        for r in CallRollup.objects.exclude(calls=0, timed=0, answered=0, talk_seconds=0)
    }


def keyed_from_calls() -> dict:
    """What KeyedRollup must hold, counted in Python from the calls themselves."""
    result: dict = {}
    for call in Call.objects.all():
        own = call.from_digits if call.direction == "out" else call.to_digits
        for kind, text in (("own", own), ("tag", call.tag)):
            if not text:
                continue
            key = (kind, text, rollups.floor_quarter(call.start_time), call.direction)
            key += (call.state, call.hangup_cause)
            held = result.get(key, (0, 0, 0, 0, 0))
            result[key] = (
                held[0] + 1,
                held[1] + (call.active_time is not None),
                held[2] + (call.duration is not None),
                held[3] + (call.duration or 0),
                held[4] + (call.chargeable_duration or 0),
            )
    return result


def held_by_keyed() -> dict:
    """KeyedRollup's rows, each key given as the text it stands for (RollupKey)."""
    texts = {(k.kind, k.key): k.text for k in RollupKey.objects.all()}
    return {
        (r.kind, texts[(r.kind, r.key)], r.bucket, r.direction, r.state, r.hangup_cause): (
            r.calls,
            r.answered,
            r.timed,
            r.talk_seconds,
            r.chargeable_seconds,
        )
        for r in KeyedRollup.objects.exclude(calls=0, timed=0, answered=0, talk_seconds=0)
    }


def assert_exact():
    assert held_by_rollups() == counted_from_calls()
    assert held_by_keyed() == keyed_from_calls()


# Tags: none, short ones, and one longer than an index entry may hold (keyed by its md5
# on PostgreSQL).
TAGS = ["", "vip", "sales", "long-" + "x" * 3000]


def _payload(n: int, state: str, start: datetime, answer_after: int | None, length: int | None):
    payload = {
        "id": f"c-roll{n}",
        # Inbound, outbound, and a direction the API did not say (stored as "").
        "direction": ["out", "in", "in", "sideways"][n % 4],
        "from": f"+1919555{n % 50:04d}",
        "to": "+19195550100" if n % 5 else "sip:desk@example.com",
        "state": state,
        "startTime": start.isoformat().replace("+00:00", "Z"),
        "tag": TAGS[n % len(TAGS)],
    }
    if answer_after is not None:
        payload["activeTime"] = (start + timedelta(seconds=answer_after)).isoformat()
    if length is not None and state not in ("started", "active", "transferring"):
        end = start + timedelta(seconds=(answer_after or 0) + length)
        payload["endTime"] = end.isoformat()
        payload["chargeableDuration"] = 60 * (1 + length // 60)
    return payload


operation = st.one_of(
    st.tuples(
        st.just("list"),
        st.integers(0, 12),  # which call
        st.sampled_from(STATES),
        st.integers(0, 400),  # start, minutes after BASE
        st.one_of(st.none(), st.integers(0, 40)),  # answered after (s)
        st.one_of(st.none(), st.integers(0, 5000)),  # talk time (s)
    ),
    st.tuples(
        st.just("callback"),
        st.integers(0, 12),
        st.sampled_from(["incomingcall", "answer", "hangup"]),
        st.integers(0, 400),
        st.sampled_from(CAUSES),
    ),
    st.tuples(
        st.just("correct"),
        st.integers(0, 12),
        st.sampled_from(STATES),
        st.integers(-60, 60),
        st.sampled_from(TAGS),
    ),
    st.tuples(st.just("delete"), st.integers(0, 12)),
)


def _run(op):
    kind = op[0]
    if kind == "list":  # the sync's bulk upsert (an executemany or COPY + ON CONFLICT)
        _, n, state, minutes, answer, length = op
        start = BASE + timedelta(minutes=minutes)
        rows = [payloads.call_fields(_payload(n, state, start, answer, length))]
        writes.upsert_calls(rows, history=minutes > 200)
    elif kind == "callback":  # the callback endpoint's ORM save
        _, n, event, minutes, cause = op
        moment = BASE + timedelta(minutes=minutes)
        payload = {
            "eventType": event,
            "callId": f"c-roll{n}",
            "from": f"+1919555{n % 50:04d}",
            "to": "+19195550100",
            "time": moment.isoformat(),
        }
        if cause:
            payload["cause"] = cause
        stored, _ = callbacks.store(payload)
        apply_callback(stored)
    elif kind == "correct":  # an UPDATE from anywhere else: a corrected state and start
        _, n, state, shift, tag = op
        Call.objects.filter(catapult_id=f"c-roll{n}").update(
            state=state, start_time=BASE + timedelta(minutes=200 + shift), tag=tag
        )
    else:  # retention's DELETE
        Call.objects.filter(catapult_id=f"c-roll{op[1]}").delete()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(operation, min_size=1, max_size=25))
def test_rollups_equal_a_plain_count_after_any_sequence_of_writes(ops):
    Call.objects.all().delete()
    assert_exact()
    for op in ops:
        _run(op)
    assert_exact()


def test_a_batch_large_enough_for_the_staged_path_is_counted_exactly():
    """PostgreSQL writes 50+ rows through COPY and one statement: one trigger run."""
    rows = [
        payloads.call_fields(_payload(n, "completed", BASE + timedelta(minutes=n), 3, n * 7))
        for n in range(120)
    ]
    writes.upsert_calls(rows)
    assert_exact()
    changed = [
        payloads.call_fields(_payload(n, "completed", BASE + timedelta(minutes=n), None, None))
        for n in range(120)
    ]
    writes.upsert_calls(changed)  # every call's answer and talk time gone: moved rows
    assert_exact()
    assert CallRollup.objects.filter(calls__gt=0).exists()
    kinds = set(KeyedRollup.objects.filter(calls__gt=0).values_list("kind", flat=True))
    assert kinds == {"own", "tag"}
    # The long tag has a key of bounded length; its text is whole.
    long_tag = RollupKey.objects.get(kind="tag", text=TAGS[3])
    assert len(long_tag.key) <= 200 if connection.vendor == "postgresql" else long_tag.key


def test_rebuild_command_recounts_from_the_calls():
    writes.upsert_calls(
        [payloads.call_fields(_payload(n, "completed", BASE, 2, 30)) for n in range(5)]
    )
    CallRollup.objects.update(calls=999)  # damage
    call_command("rebuild_rollups", verbosity=0)
    assert_exact()


def test_triggers_survive_a_migration_run():
    """SQLite drops a table's triggers when a migration rebuilds it; migrate puts them back."""
    call_command("migrate", verbosity=0)
    writes.upsert_calls([payloads.call_fields(_payload(1, "completed", BASE, 1, 10))])
    assert CallRollup.objects.get(calls__gt=0).calls == 1


def test_cached_peaks_equal_a_fresh_sweep_after_calls_change():
    now = timezone.now().replace(second=0, microsecond=0)
    start = rollups.floor_quarter(now - timedelta(hours=3))
    for n in range(8):
        begin = start + timedelta(minutes=10 * n)
        writes.upsert_calls(
            [payloads.call_fields(_payload(n, "completed", begin, 0, 1800 + 300 * n))]
        )
    live = start + timedelta(minutes=20)
    writes.upsert_calls([payloads.call_fields(_payload(20, "active", live, 0, None))])
    first = concurrency.peaks(start, now, now)
    assert ConcurrencyPeak.objects.count() > 0
    assert first == concurrency.sweep(start, rollups.ceil_quarter(now), now)
    # The live call turns out to have ended long ago; another call is deleted.
    ended = _payload(20, "completed", live, 0, 60)
    writes.upsert_calls([payloads.call_fields(ended)])
    Call.objects.filter(catapult_id="c-roll3").delete()
    again = concurrency.peaks(start, now, now)
    fresh = concurrency.sweep(start, rollups.ceil_quarter(now), now)
    open_slot = rollups.floor_quarter(now)
    # Closed quarter hours: exactly a fresh sweep. The one in progress is shared for
    # OPEN_SLOT_TTL seconds (it may lag by that much).
    assert {s: p for s, p in again.items() if s != open_slot} == {
        s: p for s, p in fresh.items() if s != open_slot
    }
    assert again != first


def test_quarter_hour_expression_matches_python():
    moment = datetime(2026, 3, 8, 6, 44, 59, 999999, tzinfo=UTC)
    writes.upsert_calls([payloads.call_fields(_payload(1, "completed", moment, 1, 5))])
    (bucket,) = CallRollup.objects.filter(calls=1).values_list("bucket", flat=True)
    assert bucket == rollups.floor_quarter(moment) == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert connection.vendor in ("sqlite", "postgresql")

"""calls.reports: a number's statistics, counted by the database, against a plain count."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Q

from calls import reports, sync
from calls.models import Call
from calls.sync.payloads import call_fields

pytestmark = pytest.mark.django_db

NUMBER = "+19195550100"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _calls(specs):
    rows = []
    for i, (from_, to, state, talk) in enumerate(specs):
        start = T0 + timedelta(minutes=i)
        payload = {"id": f"c-{i}", "from": from_, "to": to, "state": state}
        payload["startTime"] = start.isoformat()
        if talk is not None:
            payload["activeTime"] = start.isoformat()
            payload["endTime"] = (start + timedelta(seconds=talk)).isoformat()
        rows.append(call_fields(payload))
    sync.upsert_calls(rows)
    Call.objects.filter(state="rejected").update(hangup_cause="CALL_REJECTED")


def _expected(calls):
    counts = Counter((c.state, c.hangup_cause) for c in calls)
    talk = [c.duration for c in calls if c.duration is not None]
    return counts, (sum(talk) / len(talk) if talk else None)


SIDES = [Q(from_digits="19195550100"), Q(to_digits="19195550100")]


def test_statistics_match_a_plain_count_and_count_a_call_to_itself_once():
    other = "+17045550111"
    _calls(
        [(NUMBER, other, "completed", 30), (other, NUMBER, "completed", 90)]
        + [(other, NUMBER, "rejected", None)] * 4
        + [(NUMBER, NUMBER, "completed", 12), (other, "+12125550199", "completed", 5)]
    )
    stats = reports.number_statistics(SIDES)
    mine = Call.objects.filter(SIDES[0] | SIDES[1])
    counts, average = _expected(mine)
    assert stats.total == mine.count() == 7
    assert {(o["state"], o["hangup_cause"]): o["n"] for o in stats.outcomes} == counts
    assert stats.outcomes[0] == {"state": "rejected", "hangup_cause": "CALL_REJECTED", "n": 4}
    assert stats.average == pytest.approx(average) == pytest.approx((30 + 90 + 12) / 3)
    assert not stats.capped


def test_statistics_cover_the_newest_calls_of_each_side_when_capped():
    other = "+17045550111"
    _calls([(NUMBER, other, "completed", 10 * (i + 1)) for i in range(5)])
    stats = reports.number_statistics(SIDES, window=2)
    newest = Call.objects.filter(SIDES[0]).order_by("-start_time")[:2]
    assert stats.capped and stats.total == 2
    assert stats.average == pytest.approx(_expected(newest)[1]) == pytest.approx(45)


def test_a_number_without_calls_has_empty_statistics():
    stats = reports.number_statistics(SIDES)
    assert (stats.total, stats.capped, stats.average, stats.outcomes) == (0, False, None, [])

"""The first page: login-protected, latest calls, sync status line."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls.models import Call, SyncRun

pytestmark = pytest.mark.django_db


def make_calls(n, state="completed"):
    now = timezone.now()
    Call.objects.bulk_create(
        Call(
            catapult_id=f"c-{i:025d}",
            direction="in",
            from_number="+19195550100",
            to_number=f"+1919555{i:04d}",
            state=state,
            start_time=now - timedelta(seconds=i),
            first_seen_at=now,
            synced_at=now,
        )
        for i in range(n)
    )


def test_login_is_required(client):
    response = client.get(reverse("calls:list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get(reverse("calls:status")).status_code == 302


def test_latest_calls_newest_first(client, viewer):
    make_calls(3)
    client.force_login(viewer)
    response = client.get(reverse("calls:list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("c-0000000000000000000000000") < body.index("c-0000000000000000000000002")
    assert "+19195550002" in body


@pytest.mark.parametrize("rows", [5, 120])
def test_query_count_does_not_grow_with_rows(client, viewer, rows, django_assert_max_num_queries):
    make_calls(rows)
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("calls:list")).status_code == 200


def test_htmx_request_gets_only_the_table(client, viewer):
    make_calls(2)
    client.force_login(viewer)
    response = client.get(reverse("calls:list"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'id="calls-table"' in body and "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_status_line_says_when_and_how_the_last_cycle_ended(client, viewer):
    client.force_login(viewer)
    assert "Waiting for the first sync" in client.get(reverse("calls:status")).content.decode()
    ended = timezone.now() - timedelta(seconds=4)
    SyncRun.objects.create(started_at=ended, finished_at=ended, outcome="success", list_read=True)
    body = client.get(reverse("calls:status")).content.decode()
    assert "Synced 4 s ago" in body and "last cycle succeeded 4 s ago" in body
    SyncRun.objects.create(
        started_at=timezone.now(),
        finished_at=timezone.now(),
        outcome="partial",
        error="Events of c-1: The Catapult API failed (HTTP 503)",
    )
    body = client.get(reverse("calls:status")).content.decode()
    # One bad cycle is degraded, not down: no banner, but it says what is wrong.
    assert "is-down" not in body and "last cycle partly done" in body
    assert "degraded" in body and "HTTP 503" in body


def test_stale_data_is_flagged(client, viewer, settings):
    settings.SYNC_INTERVAL_SECONDS = 10
    old = datetime(2020, 1, 1, tzinfo=UTC)
    SyncRun.objects.create(started_at=old, finished_at=old, outcome="success", list_read=True)
    client.force_login(viewer)
    assert "is-stale" in client.get(reverse("calls:status")).content.decode()


def test_pages_send_a_strict_content_security_policy(client, viewer):
    client.force_login(viewer)
    policy = client.get(reverse("calls:list"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy

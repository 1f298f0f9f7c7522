"""Recordings stored locally: from callbacks (no API request), the account-wide list (its
own family only, idempotent), the call page's read; and the Recordings page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from calls import sync
from calls.models import Call
from calls.recordings import store
from calls.recordings import sync as recordings_sync
from calls.recordings.models import Recording, RecordingSync
from tests.test_callback_endpoint import _auth, _post

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks(settings, catapult_settings, sim, live_server):
    """The simulator delivers its callbacks to our endpoint over HTTP, as in the demo."""
    settings.CALLBACK_USERNAME = "catapult"
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    host = live_server.url.split("://", 1)[1]
    sim.incoming_call_url = f"http://catapult:hook-pass-123@{host}/callbacks/catapult/"
    return sim


def record(sim, client, seconds=5, *, cycle_meanwhile=False):
    call_id = sim.create_inbound_call(auto_answer=True)
    sim.advance(1)
    client.update_call(call_id, recording_enabled=True)
    if cycle_meanwhile:
        sync.run_cycle()  # the list shows it recording: the call "has a recording"
    sim.advance(seconds)
    client.update_call(call_id, recording_enabled=False)
    sim.advance(2)
    return call_id


# --- callbacks ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_recording_and_transcription_callbacks_fill_the_row_without_a_request(hooks, client_for):
    sim = hooks
    api = client_for()
    call_id = sim.create_inbound_call(auto_answer=True)
    sim.advance(1)
    sim.engine.call(call_id).transcription_enabled = True  # as if placed with it
    api.update_call(call_id, recording_enabled=True)
    sim.advance(7)
    api.update_call(call_id, recording_enabled=False)
    sim.reset_stats()
    sim.advance(2)  # saved: the recording callback
    assert sim.wait_for_callbacks(timeout=10)
    rec = Recording.objects.get()
    assert rec.state == "complete" and rec.call_catapult_id == call_id
    assert rec.call == Call.objects.get(catapult_id=call_id)
    assert rec.duration == 7 and rec.media_url == ""  # the callback has no media URL
    sim.advance(4)  # transcribed: the transcription callback (it names no call)
    assert sim.wait_for_callbacks(timeout=10)
    rec.refresh_from_db()
    assert rec.transcription_state == "completed" and "call us back" in rec.transcription_text
    assert sim.stats()["requests"] == 0  # callbacks cost no request


def test_callbacks_are_idempotent_and_never_go_backwards(client, settings, sim):
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    done = {
        "eventType": "recording",
        "callId": "c-cb",
        "recordingId": "rec-cb",
        "status": "complete",
        "startTime": "2026-11-22T10:00:00Z",
        "endTime": "2026-11-22T10:00:42Z",
    }
    assert _post(client, done, **_auth()).status_code == 200
    assert _post(client, done, **_auth()).status_code == 200  # a duplicate delivery
    rec = Recording.objects.get()
    assert (rec.state, rec.duration) == ("complete", 42)
    # A stale list item saying "saving" changes nothing; its media URL is kept.
    store.store_items(
        [
            {
                "id": "rec-cb",
                "state": "saving",
                "media": "http://x/v1/users/u-test/media/c-cb-1.mp3",
                "startTime": "2026-11-22T10:00:00Z",
                "call": "http://x/v1/users/u-test/calls/c-cb",
            }
        ]
    )
    rec.refresh_from_db()
    assert rec.state == "complete" and rec.file_format == "mp3" and rec.media_url
    # A transcription before any recording callback of its own still lands on its row.
    transcription = {
        "eventType": "transcription",
        "recordingId": "rec-early",
        "transcriptionId": "tr-1",
        "state": "completed",
        "status": "completed",
        "text": "hello",
    }
    assert _post(client, transcription, **_auth()).status_code == 200
    assert Recording.objects.get(catapult_id="rec-early").transcription_text == "hello"
    odd = {**done, "recordingId": "rec-odd", "startTime": "yesterday", "endTime": 12}
    assert _post(client, odd, **_auth()).status_code == 200
    assert Recording.objects.get(catapult_id="rec-odd").state == "complete"


# --- the sync step -----------------------------------------------------------------------


def test_the_sync_step_reads_the_recordings_family_only_and_is_idempotent(
    sim, catapult_settings, client_for, monkeypatch
):
    monkeypatch.setattr(recordings_sync, "RECENT_PAGE_SIZE", 10)  # history takes a few runs
    sim.preload(300, events_per_call=2)
    expected = {r["id"] for r in sim_recordings(sim)}
    assert len(expected) > 30
    api = client_for()
    sim.reset_stats()
    recordings_sync.sync_step(api)  # first run: the newest page, then one history page
    assert set(sim.stats()["by_route"]) == {"GET /recordings"}
    while RecordingSync.get().history_next_url:
        recordings_sync.sync_step(api)
    assert set(Recording.objects.values_list("catapult_id", flat=True)) == expected
    assert RecordingSync.get().history_done_at is not None
    before = list(Recording.objects.order_by("pk").values_list("catapult_id", "updated_at"))
    sim.reset_stats()
    summary = recordings_sync.sync_step(api)
    assert sim.stats()["by_route"] == {"GET /recordings": 1}  # one newest page: all known
    assert "0 recordings new or changed" in summary
    assert list(Recording.objects.order_by("pk").values_list("catapult_id", "updated_at")) == before
    # A new recording appears on the next run; calls synced later are linked to it.
    call_id = record(sim, api)
    recordings_sync.sync_step(api)
    new = Recording.objects.get(call_catapult_id=call_id)
    assert new.call is None and new.media_url.endswith(f"{call_id}-1.wav")
    sync.run_cycle()
    recordings_sync.sync_step(api)
    new.refresh_from_db()
    assert new.call.catapult_id == call_id


def sim_recordings(sim):
    with sim.lock:
        return [{"id": r.id} for r in sim.store.recordings.values()]


def test_the_task_takes_a_lock_and_reports_api_trouble(sim, catapult_settings):
    sim.faults.add("error", path=r"^/recordings", status=500, count=None)
    summary = recordings_sync.run()
    assert "Reading the recordings list" in summary
    assert RecordingSync.get().last_error
    sim.faults.clear()
    assert "API requests" in recordings_sync.run()
    assert RecordingSync.get().last_error == ""


def test_the_calls_cycle_does_not_touch_the_recordings_family(sim, catapult_settings):
    sim.preload(50, events_per_call=2)
    sync.run_cycle()
    assert "GET /recordings" not in sim.stats()["by_route"]


# --- the call page -----------------------------------------------------------------------


def test_the_call_page_reads_recordings_once_then_shows_them_stored(
    client, operator, sim, catapult_settings, client_for
):
    api = client_for()
    call_id = record(sim, api, cycle_meanwhile=True)
    client.force_login(operator)
    sim.reset_stats()
    panel = client.get(f"/calls/{call_id}/recordings/", HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    html = panel.content.decode()
    rec = Recording.objects.get(call_catapult_id=call_id)
    assert f'src="/recordings/{rec.catapult_id}/media/"' in html
    assert 'preload="metadata"' in html and "Complete" in html
    assert sim.stats()["by_route"] == {"GET /calls/{id}/recordings": 1}
    client.get(f"/calls/{call_id}/recordings/", HTTP_HX_REQUEST="true")
    assert sim.stats()["requests"] == 1  # complete and stored: no second read


def test_a_viewer_sees_no_player_unless_allowed(client, viewer, sim, catapult_settings, client_for):
    from calls.recordings.models import PlaybackSettings

    call_id = record(sim, client_for(), cycle_meanwhile=True)
    client.force_login(viewer)
    html = client.get(f"/calls/{call_id}/recordings/", HTTP_HX_REQUEST="true").content.decode()
    assert "<audio" not in html and "may not listen" in html
    PlaybackSettings.objects.update_or_create(pk=1, defaults={"viewers_may_listen": True})
    html = client.get(f"/calls/{call_id}/recordings/", HTTP_HX_REQUEST="true").content.decode()
    assert "<audio" in html


# --- the Recordings page -----------------------------------------------------------------


def make_recordings(count: int, start: datetime) -> list[Recording]:
    now = timezone.now()
    call = Call.objects.create(
        catapult_id="c-page",
        from_number="+19195550100",
        to_number="+19195550177",
        from_digits="19195550100",
        to_digits="19195550177",
        from_digits_rev="19195550100"[::-1],
        to_digits_rev="19195550177"[::-1],
        state="completed",
        start_time=start,
        first_seen_at=now,
        synced_at=now,
    )
    rows = []
    for i in range(count):
        rows.append(
            Recording(
                catapult_id=f"rec-{i:04d}",
                call=call if i % 2 == 0 else None,
                call_catapult_id="c-page" if i % 2 == 0 else "c-elsewhere",
                state="complete" if i % 3 else "error",
                start_time=start + timedelta(minutes=i),
                end_time=start + timedelta(minutes=i, seconds=30),
                duration=30,
                media_url=f"http://x/v1/users/u-test/media/c-page-{i}.wav",
                file_format="wav",
                first_seen_at=now,
                updated_at=now,
            )
        )
    return Recording.objects.bulk_create(rows)


def listed(response) -> list[str]:
    return [rec.catapult_id for rec in response.context["page"].rows]


def test_the_page_lists_newest_first_and_pages_by_keyset(client, viewer):
    make_recordings(120, datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    client.force_login(viewer)
    first = client.get("/recordings/")
    assert first.status_code == 200
    assert listed(first)[:2] == ["rec-0119", "rec-0118"] and len(listed(first)) == 50
    older = first.context["page"].older
    second = client.get(f"/recordings/?before={older}")
    assert listed(second)[0] == "rec-0069"
    third = client.get(f"/recordings/?before={second.context['page'].older}")
    assert listed(third)[-1] == "rec-0000" and third.context["page"].older is None
    back = client.get(f"/recordings/?after={second.context['page'].newer}")
    assert listed(back) == listed(first)
    assert "<audio" not in first.content.decode()  # a viewer, by default


def test_the_page_filters_by_state_number_and_date(client, operator):
    make_recordings(30, datetime(2026, 3, 1, 23, 40, tzinfo=UTC))
    client.force_login(operator)
    errors = listed(client.get("/recordings/?state=error"))
    assert errors and all(int(r[-4:]) % 3 == 0 for r in errors)
    by_number = listed(client.get("/recordings/?q=(919) 555-0177"))
    assert by_number and all(int(r[-4:]) % 2 == 0 for r in by_number)
    assert listed(client.get("/recordings/?q=5559999")) == []
    on_day = listed(client.get("/recordings/?since=2026-03-02&until=2026-03-02"))
    assert on_day == [f"rec-{i:04d}" for i in range(29, 19, -1)]  # from 00:00 UTC
    html = client.get("/recordings/?state=complete").content.decode()
    assert 'preload="none"' in html  # a page of players fetches nothing until played
    partial = client.get("/recordings/?state=complete", HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<section id="recordings-table"')


@pytest.mark.parametrize(
    "query",
    [
        "state=bogus",
        "since=not-a-date",
        "since=2026-03-05&until=2026-03-01",
        "before=nonsense",
        "after=1_2_3",
        "q=" + "9" * 200,
        "since=99999-01-01",
        "until=9999-12-31",
        "since=0001-01-01",
        "since=1969-12-31",
        "until=9001-01-01",
    ],
)
def test_bad_filters_are_400_with_the_errors(client, viewer, query):
    client.force_login(viewer)
    response = client.get(f"/recordings/?{query}")
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_dates_at_the_ends_of_the_calendar_are_a_form_error_in_any_zone(client, viewer, zone):
    client.force_login(viewer)
    client.cookies["tz"] = zone
    for query in ("since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31"):
        response = client.get(f"/recordings/?{query}")
        assert response.status_code == 400, query
        assert "Choose a date between 1970 and 9000." in response.content.decode()
    # The bounds themselves are days like any other.
    response = client.get("/recordings/?since=1970-01-01&until=9000-12-31")
    assert response.status_code == 200 and listed(response) == []

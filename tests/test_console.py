"""The operator console's views and actions, against the simulator over HTTP."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import sync
from calls.catapult import CatapultClient
from calls.models import AuditEntry, Call, SyncRun
from calls.roles import ADMIN, assign_role

pytestmark = pytest.mark.django_db


def _user(django_user_model, name, role):
    user = django_user_model.objects.create_user(name, password="pw-for-tests-1")
    assign_role(user, role)
    return user


@pytest.fixture
def synced(sim, catapult_settings):
    """History plus live calls, synced into the database."""
    sim.preload(60, events_per_call=8, live=4)
    ringing = sim.create_inbound_call(from_="+19195550100", auto_answer=False)
    active = sim.create_inbound_call(from_="+19195550100", auto_answer=True)
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    return {"ringing": ringing, "active": active}


def _sim_call(sim, call_id) -> dict:
    return next(c for c in sim.calls_snapshot() if c["id"] == call_id)


def _rows(response) -> list[str]:
    body = response.content.decode()
    return [part.split('"', 1)[0] for part in body.split('data-call-id="')[1:]]


# --- finding calls -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["(919) 555-0100", "919.555.0100", "+1 919 555 0100", "19195550100", "9195550100"],
)
def test_number_search_forgives_formats(client, viewer, synced, typed):
    client.force_login(viewer)
    response = client.get(reverse("calls:list"), {"q": typed})
    rows = _rows(response)
    expected = set(
        Call.objects.filter(from_digits__endswith="9195550100").values_list(
            "catapult_id", flat=True
        )
    ) | set(
        Call.objects.filter(to_digits__endswith="9195550100").values_list("catapult_id", flat=True)
    )
    assert set(rows) == expected and {synced["ringing"], synced["active"]} <= set(rows)
    body = response.content.decode()
    assert "ending in 9195550100" in body
    assert "<mark>" in body


def test_fragment_matches_anywhere_and_says_so(client, viewer, synced):
    client.force_login(viewer)
    response = client.get(reverse("calls:list"), {"q": "5550"})
    rows = set(_rows(response))
    assert rows
    for call in Call.objects.filter(catapult_id__in=rows):
        assert "5550" in call.from_digits or "5550" in call.to_digits
    assert "containing 5550" in response.content.decode()
    prefix = client.get(reverse("calls:list"), {"q": "1919", "match": "prefix"})
    assert "starting with 1919" in prefix.content.decode()


def test_sip_search(client, viewer, sim, catapult_settings):
    sim.create_inbound_call(from_="sip:alice@example.com", auto_answer=True)
    sync.run_cycle()
    client.force_login(viewer)
    rows = _rows(client.get(reverse("calls:list"), {"q": "sip:alice@example.com"}))
    assert len(rows) == 1


def test_filters_combine_and_invalid_input_is_a_400(client, viewer, synced):
    client.force_login(viewer)
    live = _rows(client.get(reverse("calls:list"), {"state": "live", "direction": "in"}))
    assert synced["ringing"] in live
    assert all(Call.objects.get(catapult_id=c).is_live for c in live)
    bad = client.get(reverse("calls:list"), {"min_duration": "-5", "start_from": "yesterday"})
    assert bad.status_code == 400
    assert "not valid" in bad.content.decode()
    bad_cursor = client.get(reverse("calls:list"), {"before": "'; drop table"})
    assert bad_cursor.status_code == 400


def test_keyset_pagination_walks_every_call_once(client, viewer, synced):
    client.force_login(viewer)
    seen, cursor = [], None
    while True:
        params = {"before": cursor} if cursor else {}
        response = client.get(reverse("calls:list"), params)
        seen += _rows(response)
        marker = "before="
        body = response.content.decode()
        if "Older →" not in body:
            break
        cursor = body.split(marker)[-1].split('"')[0]
    assert len(seen) == len(set(seen)) == Call.objects.count()


def test_list_query_count_is_constant(client, viewer, synced, django_assert_max_num_queries):
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        client.get(reverse("calls:list"), {"q": "5550", "state": "completed"})


def test_csv_export_is_exactly_the_filtered_list(client, viewer, synced):
    client.force_login(viewer)
    response = client.get(reverse("calls:export"), {"direction": "in"})
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "id"
    assert {r[0] for r in rows[1:]} == set(
        Call.objects.filter(direction="in").values_list("catapult_id", flat=True)
    )
    assert client.get(reverse("calls:export"), {"period": "nonsense"}).status_code == 400


def test_csv_export_is_in_the_viewers_zone_and_whole_across_chunks(
    client, viewer, synced, monkeypatch
):
    from calls import views

    monkeypatch.setattr(views, "_CSV_CHUNK", 7)  # many chunks, some boundaries on equal times
    Call.objects.filter(pk__in=Call.objects.order_by("pk").values("pk")[:10]).update(
        start_time=Call.objects.order_by("pk").first().start_time
    )
    client.force_login(viewer)
    client.cookies["tz"] = "Asia/Tokyo"
    body = b"".join(client.get(reverse("calls:export")).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert [r[0] for r in rows] == list(
        Call.objects.order_by("-start_time", "-id").values_list("catapult_id", flat=True)
    )
    assert all(r[6].endswith("+09:00") for r in rows)


def test_csv_export_streams_from_an_async_generator_under_asgi(viewer, synced):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def export():
        client = AsyncClient()
        await client.aforce_login(viewer)
        response = await client.get(reverse("calls:export"))
        assert response.is_async
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    rows = list(csv.reader(io.StringIO(async_to_sync(export)())))
    assert len(rows) - 1 == Call.objects.count()


def test_times_are_shown_in_the_viewers_zone(client, viewer, synced):
    client.force_login(viewer)
    call = Call.objects.order_by("-start_time").first()
    client.cookies["tz"] = "Asia/Tokyo"
    body = client.get(reverse("calls:list")).content.decode()
    local = timezone.localtime(
        call.start_time, timezone=__import__("zoneinfo").ZoneInfo("Asia/Tokyo")
    )
    assert local.strftime("%Y-%m-%d %H:%M:%S") in body
    assert "Asia/Tokyo" in body


# --- one call ----------------------------------------------------------------------------


def test_detail_shows_properties_and_a_sorted_timeline(
    client, viewer, synced, django_assert_max_num_queries
):
    client.force_login(viewer)
    call = Call.objects.filter(state="completed").first()
    with django_assert_max_num_queries(15):
        response = client.get(reverse("calls:detail", args=[call.catapult_id]))
    body = response.content.decode()
    assert response.status_code == 200
    for key in call.raw:
        assert f">{key}<" in body
    times = [e.time for e in call.events.all()]
    assert body.count('class="entry entry-event') == len(times)
    assert "Hung up" in body


def test_unknown_call_is_a_404(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("calls:detail", args=["c-nope"])).status_code == 404
    assert client.get("/calls/c-" + "x" * 500 + "/").status_code == 404
    assert client.get("/calls/c-%00x/").status_code == 404


def test_number_page_counts_outcomes(client, viewer, synced):
    client.force_login(viewer)
    response = client.get(reverse("calls:number", args=["+19195550100"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Live now" in body and synced["active"] in body


def test_recordings_are_listed_from_the_api(client, operator, synced, sim):
    sim.advance(1)
    client.force_login(operator)
    client.post(
        reverse("calls:action", args=[synced["active"], "record_on"]),
        {"recording_file_format": "mp3"},
    )
    response = client.get(reverse("calls:recordings", args=[synced["active"]]))
    assert "rec-" in response.content.decode()


def test_refresh_now_fetches_the_call_at_once(client, viewer, synced, sim):
    client.force_login(viewer)
    sim.hangup(synced["active"])
    response = client.post(reverse("calls:refresh", args=[synced["active"]]))
    assert response.status_code == 200
    assert Call.objects.get(catapult_id=synced["active"]).state == "completed"


# --- acting ------------------------------------------------------------------------------


def _act(client, call_id, name, **data):
    return client.post(reverse("calls:action", args=[call_id, name]), data)


def test_operator_hangs_up_and_it_is_audited(client, operator, synced, sim):
    client.force_login(operator)
    response = _act(client, synced["active"], "hangup")
    assert response.status_code == 200
    assert "requested by otto" in response.content.decode()
    entry = AuditEntry.objects.get(action="hangup")
    assert (entry.username, entry.outcome, entry.api_status) == ("otto", "accepted", 200)
    assert _sim_call(sim, synced["active"])["state"] == "completed"
    sync.run_cycle()
    detail = client.get(reverse("calls:detail", args=[synced["active"]])).content.decode()
    assert "otto asked to hang up: the API accepted" in detail
    assert "Confirmed at" in detail


def test_answer_and_reject_incoming_ringing_calls(client, operator, synced, sim):
    client.force_login(operator)
    assert _act(client, synced["ringing"], "answer").status_code == 200
    other = sim.create_inbound_call(auto_answer=False)
    sync.run_cycle()
    assert _act(client, other, "reject").status_code == 200
    assert _sim_call(sim, other)["state"] == "rejected"


def test_action_refused_by_state_is_not_sent(client, operator, synced, sim):
    client.force_login(operator)
    done = Call.objects.filter(state="completed").first()
    sim.reset_stats()
    response = _act(client, done.catapult_id, "hangup")
    assert response.status_code == 409
    assert "cannot be hung up" in response.content.decode()
    assert sim.stats()["requests"] == 0
    assert AuditEntry.objects.get().outcome == "denied"


def test_action_refused_by_role(client, viewer, synced, sim):
    client.force_login(viewer)
    response = _act(client, synced["active"], "hangup")
    assert response.status_code == 403
    assert _sim_call(sim, synced["active"])["state"] == "active"
    assert AuditEntry.objects.get().outcome == "denied"


def test_api_refusal_is_shown_in_plain_words(client, operator, synced, sim):
    client.force_login(operator)
    sim.hangup(synced["active"])  # the API knows it ended; our database does not yet
    response = _act(client, synced["active"], "hangup")
    assert response.status_code == 409
    body = response.content.decode()
    assert "Invalid call state" in body or "can`t update" in body
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.api_status, entry.api_code) == (
        "refused",
        403,
        "call-invalid-state",
    )


def test_api_server_error_is_shown_and_not_retried(client, operator, synced, sim):
    client.force_login(operator)
    sim.faults.add("error", method="POST", path=r"^/calls/", status=503, count=1)
    sim.reset_stats()
    response = _act(client, synced["active"], "hangup")
    assert response.status_code == 502
    assert sim.stats()["by_route"].get("POST /calls/{id}") == 1
    assert AuditEntry.objects.get().outcome == "refused"


def test_double_click_sends_once(client, operator, synced, sim):
    client.force_login(operator)
    sim.reset_stats()
    first = _act(client, synced["active"], "hangup")
    second = _act(client, synced["active"], "hangup")
    assert first.status_code == 200 and second.status_code in (403, 409)
    assert sim.stats()["by_route"].get("POST /calls/{id}") == 1


def test_recording_on_and_off(client, operator, synced, sim):
    client.force_login(operator)
    assert (
        _act(client, synced["active"], "record_on", recording_file_format="mp3").status_code == 200
    )
    assert _sim_call(sim, synced["active"])["recordingEnabled"] is True
    sync.run_cycle()
    assert _act(client, synced["active"], "record_off").status_code == 200
    assert _sim_call(sim, synced["active"])["recordingEnabled"] is False
    bad = _act(client, synced["active"], "record_on", recording_file_format="flac")
    assert bad.status_code == 400


def test_transfer_links_the_new_leg(client, operator, synced, sim):
    client.force_login(operator)
    response = _act(
        client,
        synced["active"],
        "transfer",
        transfer_to="+1 (919) 555-0199",
        transfer_caller_id="private",
        whisper_sentence="Incoming transfer",
    )
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(action="transfer")
    assert entry.new_call_id and entry.params["transfer_to"] == "+19195550199"
    sync.run_cycle()
    detail = client.get(reverse("calls:detail", args=[synced["active"]])).content.decode()
    assert entry.new_call_id in detail
    invalid = _act(client, synced["active"], "transfer", transfer_to="not a number")
    assert invalid.status_code == 400


def test_place_a_call(client, operator, viewer, sim, catapult_settings):
    client.force_login(operator)
    response = client.post(
        reverse("calls:place"), {"from_number": sim.account_numbers[0], "to": "sip:bob@example.com"}
    )
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(action="place_call")
    assert Call.objects.filter(catapult_id=entry.new_call_id).exists()
    assert client.post(reverse("calls:place"), {"from_number": "x", "to": "y"}).status_code == 400
    client.force_login(viewer)
    assert (
        client.post(
            reverse("calls:place"), {"from_number": sim.account_numbers[0], "to": "+19195550100"}
        ).status_code
        == 403
    )


def test_actions_answer_405_to_get(client, operator, synced):
    client.force_login(operator)
    assert client.get(reverse("calls:action", args=[synced["active"], "hangup"])).status_code == 405


def test_viewer_sees_no_action_buttons(client, viewer, synced):
    client.force_login(viewer)
    body = client.get(reverse("calls:detail", args=[synced["active"]])).content.decode()
    assert "Hang up" not in body and "Refresh now" in body
    assert "Hang up" not in client.get(reverse("calls:list")).content.decode()


def test_a_failing_cycle_is_degraded_not_down(client, operator, synced, sim, settings):
    client.force_login(operator)
    settings.API_DOWN_AFTER_SECONDS = 3600  # the last success was moments ago
    sim.faults.add("error", status=503, count=None)
    run = sync.run_cycle(CatapultClient.from_settings())
    assert run.outcome == "failed"
    body = client.get(reverse("calls:detail", args=[synced["active"]])).content.decode()
    assert "degraded" in body
    assert "Actions are disabled" not in body and "unreachable" not in body


def test_buttons_are_disabled_when_the_api_is_down(client, operator, synced, sim, settings):
    client.force_login(operator)
    settings.API_DOWN_AFTER_SECONDS = 0  # no success since the failure: down at once
    sim.stop()
    run = sync.run_cycle(CatapultClient.from_settings())
    assert run.outcome == "failed"
    body = client.get(reverse("calls:detail", args=[synced["active"]])).content.decode()
    assert "Actions are disabled" in body and "disabled" in body
    assert "API is unreachable" in body
    # The banner refreshes itself (and on every status change the stream announces).
    banner = client.get(reverse("calls:status"), {"part": "banner"}).content.decode()
    assert 'id="api-banner"' in banner and "API is unreachable" in banner


# --- audit -------------------------------------------------------------------------------


def test_audit_page_filters_by_operator_and_date(client, operator, django_user_model, synced):
    admin = _user(django_user_model, "ada", ADMIN)
    client.force_login(operator)
    _act(client, synced["active"], "record_on", recording_file_format="wav")
    client.force_login(admin)
    _act(client, synced["ringing"], "answer")
    page = client.get(reverse("calls:audit"), {"operator": "otto"}).content.decode()
    assert "<td>otto</td>" in page and "<td>ada</td>" not in page
    today = timezone.localdate()
    page = client.get(
        reverse("calls:audit"), {"since": str(today + timedelta(days=1))}
    ).content.decode()
    assert "No actions." in page
    assert client.get(reverse("calls:audit"), {"since": "2026-02-31"}).status_code == 400


def test_audit_entries_are_append_only(operator, synced):
    call = Call.objects.get(catapult_id=synced["active"])
    entry = AuditEntry.objects.create(
        at=timezone.now(), username="x", call=call, action="hangup", outcome="denied"
    )
    entry.message = "changed"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


ACTION_CASES = {
    # action: (extra form data, a call state that allows it: "ringing" or "active")
    "answer": ({}, "ringing"),
    "reject": ({}, "ringing"),
    "hangup": ({}, "active"),
    "record_on": ({"recording_file_format": "wav"}, "active"),
    "record_off": ({}, "recording"),
    "transfer": ({"transfer_to": "+19195550199"}, "active"),
}


def _call_for(sim, kind, client_for):
    if kind == "ringing":
        call_id = sim.create_inbound_call(auto_answer=False)
    else:
        call_id = sim.create_inbound_call(auto_answer=True)
        if kind == "recording":
            client_for().update_call(call_id, recording_enabled=True)
    sync.refresh_call(CatapultClient.from_settings(), call_id)
    return call_id


@pytest.mark.parametrize("name", list(ACTION_CASES))
def test_every_action_allowed_refused_by_state_role_and_api(
    client, operator, viewer, sim, catapult_settings, client_for, name
):
    data, kind = ACTION_CASES[name]
    # Allowed.
    client.force_login(operator)
    call_id = _call_for(sim, kind, client_for)
    assert _act(client, call_id, name, **data).status_code == 200
    assert AuditEntry.objects.filter(action=name, outcome="accepted").count() == 1
    # Refused by role: nothing reaches the API.
    client.force_login(viewer)
    call_id = _call_for(sim, kind, client_for)
    sim.reset_stats()
    assert _act(client, call_id, name, **data).status_code == 403
    assert sim.stats()["requests"] == 0
    # Refused by state: a finished call.
    client.force_login(operator)
    done = _call_for(sim, kind, client_for)
    sim.hangup(done)
    sync.refresh_call(CatapultClient.from_settings(), done)
    assert _act(client, done, name, **data).status_code == 409
    # API error: shown, recorded, not retried.
    call_id = _call_for(sim, kind, client_for)
    sim.faults.add("error", method="POST", path=r"^/calls/", status=503, count=1)
    sim.reset_stats()
    response = _act(client, call_id, name, **data)
    assert response.status_code == 502
    assert sim.stats()["by_route"].get("POST /calls/{id}") == 1
    assert AuditEntry.objects.filter(action=name, outcome="refused", api_status=503).count() == 1


def test_number_statistics_are_bounded_for_busy_numbers(synced):
    from django.db.models import Q

    from calls import reports

    sides = [Q(from_digits="19195550100"), Q(to_digits="19195550100")]
    full = reports.number_statistics(sides)
    assert not full.capped and full.total >= 2
    assert sum(row["n"] for row in full.outcomes) == full.total
    capped = reports.number_statistics(sides, window=1)
    assert capped.capped and capped.total <= 2

"""The operator console in a real browser: logging in, searching, a call's timeline, acting."""

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from playwright.sync_api import expect

from calls import actions
from calls.models import AuditEntry, Call
from tests.browser.browsing import CALLER, PASSWORD, cycle, log_in, row_ids, screenshot, sim_call

pytestmark = pytest.mark.browser


def test_log_in(page, viewer, synced):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill("vera")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/login/"))

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1, name="Calls")).to_be_visible()
    expect(page.locator(".logout")).to_contain_text("vera")
    expect(page.locator("#sync-status")).to_contain_text("Synced")
    assert Call.objects.count() < 50  # one page
    assert row_ids(page) == set(Call.objects.values_list("catapult_id", flat=True))
    screenshot(page, "calls-list")


def test_search_swaps_the_table_in_place(page, watch, viewer, synced):
    log_in(page, viewer)
    everything = row_ids(page)
    page.evaluate("window.__samePage = true")
    loads_before = watch.loads

    box = page.get_by_label("Number or SIP address")
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        box.press_sequentially("(919) 555-0100", delay=15)
    explanation = page.locator("#calls-table .explain")
    expect(explanation).to_have_text(
        "Calls from or to numbers ending in 9195550100. Change how it matches with “Match”."
    )

    # Swapped by htmx: the same document, no page load, and the address bar follows.
    assert page.evaluate("window.__samePage") is True
    assert watch.loads == loads_before
    expect(page).to_have_url(re.compile(r"[?&]q="))
    assert parse_qs(urlsplit(page.url).query)["q"] == ["(919) 555-0100"]

    expected = set(
        Call.objects.filter(
            Q(from_digits__endswith="9195550100") | Q(to_digits__endswith="9195550100")
        ).values_list("catapult_id", flat=True)
    )
    found = row_ids(page)
    assert found == expected
    assert {synced["ringing"], synced["active"]} <= found
    assert len(found) < len(everything)

    marks = page.locator("#calls-table mark")
    assert marks.count() >= len(found)
    for text in marks.all_inner_texts():
        assert re.sub(r"\D", "", text) == "9195550100", text
    assert not watch.csp_problems(), watch.csp_problems()
    assert not watch.errors, watch.errors
    screenshot(page, "search-result")

    # The pushed address is a real page: loading it shows the same rows.
    page.goto(page.url)
    expect(page.locator("#calls-table .explain")).to_contain_text("ending in 9195550100")
    assert row_ids(page) == expected
    expect(page.get_by_label("Number or SIP address")).to_have_value("(919) 555-0100")
    assert page.locator("#calls-table mark").count() >= len(expected)


def test_a_calls_timeline_reads_in_time_order(page, viewer, synced):
    log_in(page, viewer)
    row = page.locator("#calls-table tr.state-completed").first
    call_id = row.get_attribute("data-call-id")
    call = Call.objects.get(catapult_id=call_id)
    events = list(call.events.all())
    assert len(events) >= 3
    row.locator("a.badge").click()
    expect(page).to_have_url(re.compile(rf"/calls/{call_id}/$"))

    entries = page.locator("#timeline > li.entry")
    expect(entries).to_have_count(len(events))
    moments = [
        datetime.fromisoformat(value)
        for value in page.locator("#timeline > li.entry > time").evaluate_all(
            "times => times.map(t => t.getAttribute('datetime'))"
        )
    ]
    assert moments == sorted(moments)
    assert moments[0] == min(e.time for e in events)

    sentences = entries.locator(".sentence").all_inner_texts()
    assert sentences[0].startswith(("Incoming call from", "Dialling"))
    assert any(s.startswith("Hung up") for s in sentences)
    raw_names = {e.name for e in events}
    # Plain sentences, not the API's event names.
    assert not raw_names & set(sentences), sentences

    hangup = entries.filter(has_text="Hung up").last
    raw = hangup.locator("details code").first
    expect(raw).to_be_hidden()
    hangup.get_by_text("raw", exact=True).click()
    expect(raw).to_be_visible()
    expect(raw).to_have_text("hangup")
    screenshot(page, "call-detail")


def test_operator_hangs_up_a_live_call(page, operator, synced, sim):
    active = synced["active"]
    dialogs: list[str] = []
    answers = ["dismiss", "accept"]

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        getattr(dialog, answers.pop(0))()

    page.on("dialog", on_dialog)
    log_in(page, operator)
    page.goto(f"/calls/{active}/")
    summary = page.locator("#call-summary")
    expect(summary.locator(".badge")).to_have_text("Active")

    # Saying no to the question sends nothing.
    summary.get_by_role("button", name="Hang up").click()
    expect(summary.get_by_role("button", name="Hang up")).to_be_enabled()
    page.wait_for_timeout(300)  # time enough for a request that should not be sent
    assert dialogs == ["Hang up this call?"]
    assert not AuditEntry.objects.exists()
    assert sim_call(sim, active)["state"] == "active"

    summary.get_by_role("button", name="Hang up").click()
    expect(page.get_by_role("status").filter(has_text="Accepted by the API")).to_be_visible()
    assert dialogs == ["Hang up this call?", "Hang up this call?"]
    expect(page.locator("#call-summary .pending")).to_have_text(
        "Hang up requested by otto, waiting for confirmation…"
    )
    expect(page.locator("#call-summary .badge")).to_have_text("Active")
    assert sim_call(sim, active)["state"] == "completed"
    action = page.locator("#timeline li.entry-action")
    expect(action.locator(".sentence")).to_have_text("otto asked to hang up: the API accepted")
    expect(action.locator(".pending")).to_have_text("Not confirmed by an event yet")

    cycle()  # the sync sees the call completed
    # The page polls while it waits: no reload needed.
    expect(page.locator("#call-summary .badge")).to_have_text("Completed")
    expect(page.locator("#call-summary .pending")).to_have_count(0)
    expect(page.locator("#call-summary").get_by_role("button", name="Hang up")).to_have_count(0)
    expect(action.locator(".confirm")).to_contain_text("Confirmed at")
    expect(page.locator("#timeline .sentence").filter(has_text="Hung up")).to_have_count(1)

    page.reload()
    expect(page.locator("#call-summary .badge")).to_have_text("Completed")
    expect(page.locator("#timeline li.entry-action .sentence")).to_have_text(
        "otto asked to hang up: the API accepted"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Operator actions")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    expect(cells.nth(1)).to_have_text("otto")
    expect(cells.nth(2)).to_have_text(active)
    expect(cells.nth(3)).to_have_text("Hang up")
    expect(cells.nth(5)).to_have_text("Accepted by the API")
    expect(cells.nth(6)).to_contain_text("HTTP 200")
    screenshot(page, "audit")


def test_operator_starts_recording_in_mp3(page, operator, synced, sim):
    active = synced["active"]
    log_in(page, operator)
    page.goto(f"/calls/{active}/")
    recording = page.locator("#call-summary .facts dt:has-text('Recording') + dd")
    expect(recording).to_have_text("off")

    form = page.locator("#call-summary form.inline")
    form.get_by_label("Format").select_option("mp3")
    form.get_by_role("button", name="Start recording").click()
    expect(page.get_by_role("status").filter(has_text="Start recording:")).to_have_text(
        "Start recording: Accepted by the API"
    )
    expect(page.locator("#call-summary .pending")).to_have_text(
        "Start recording requested by otto, waiting for confirmation…"
    )
    call = sim_call(sim, active)
    assert (call["recordingEnabled"], call["recordingFileFormat"]) == (True, "mp3")

    cycle()  # the sync sees recording on
    expect(recording).to_have_text("on (mp3)")
    expect(page.locator("#call-summary .pending")).to_have_count(0)
    summary = page.locator("#call-summary")
    expect(summary.get_by_role("button", name="Stop recording")).to_be_visible()
    expect(summary.get_by_role("button", name="Start recording")).to_have_count(0)


def test_a_viewer_gets_no_action_buttons(page, viewer, synced):
    log_in(page, viewer)
    assert row_ids(page) >= {synced["ringing"], synced["active"]}
    for name in ("Answer", "Reject", "Hang up", "Start recording", "Transfer"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
    expect(page.get_by_role("link", name="Place a call")).to_have_count(0)

    for call_id in (synced["ringing"], synced["active"]):
        page.goto(f"/calls/{call_id}/")
        expect(page.locator("#timeline")).to_be_visible()
        expect(page.get_by_role("button", name="Refresh now")).to_be_visible()
        for name in ("Answer", "Reject", "Hang up", "Start recording", "Stop recording"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.get_by_text("Transfer…")).to_have_count(0)
        expect(page.get_by_role("link", name="Place a call")).to_have_count(0)


def test_live_durations_tick(page, viewer, synced):
    log_in(page, viewer)
    live = page.locator(f"tr[data-call-id='{synced['active']}'] [data-live-since]")
    expect(live).to_have_text(re.compile(r"^\d+:\d\d$"))
    first = live.inner_text()
    page.wait_for_timeout(2100)
    second = live.inner_text()
    assert re.fullmatch(r"\d+:\d\d", second) and second != first, (first, second)


def test_a_numbers_page_from_the_list(page, viewer, synced):
    log_in(page, viewer)
    row = page.locator(f"tr[data-call-id='{synced['ringing']}']")
    row.locator("a.number", has_text="(919) 555-0100").click()
    expect(page).to_have_url(re.compile(r"/numbers/%2B19195550100/$|/numbers/\+19195550100/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("+1 (919) 555-0100")
    live = page.get_by_role("table", name="Live calls of this number")
    expect(live.locator(f"tr[data-call-id='{synced['ringing']}']")).to_be_visible()
    expect(live.locator(f"tr[data-call-id='{synced['active']}']")).to_be_visible()
    total = Call.objects.filter(Q(from_number=CALLER) | Q(to_number=CALLER)).count()
    expect(page.locator("#outcomes-title + p")).to_contain_text(f"{total} call")
    screenshot(page, "number")


def test_operator_places_a_call(page, operator, synced, sim):
    log_in(page, operator)
    page.get_by_role("link", name="Place a call").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Place a call")
    screenshot(page, "place-call")
    page.get_by_label("From (an account number)").fill(sim.account_numbers[0])
    page.get_by_label("To (number or SIP URI)").fill("sip:bob@example.com")
    page.get_by_role("button", name="Place call").click()
    status = page.get_by_role("status").filter(has_text="Call placed")
    expect(status).to_be_visible()
    entry = AuditEntry.objects.get(action="place_call")
    expect(status).to_contain_text(entry.new_call_id)
    status.get_by_role("link", name="open the call").click()
    expect(page).to_have_url(re.compile(rf"/calls/{entry.new_call_id}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("sip:bob@example.com")


def test_operator_answers_from_the_list(page, operator, synced, sim):
    ringing = synced["ringing"]
    log_in(page, operator)
    row = page.locator(f"tr[data-call-id='{ringing}']")
    expect(row.locator(".badge")).to_have_text("Ringing")
    row.get_by_role("button", name="Answer").click()
    expect(row.locator(".pending")).to_have_text("Answer requested…")
    expect(row.get_by_role("button")).to_have_count(0)
    assert sim_call(sim, ringing)["state"] == "active"

    cycle()
    # The table refreshes itself (every 5 s on the first page).
    expect(row.locator(".badge")).to_have_text("Active", timeout=12_000)
    expect(row.locator(".pending")).to_have_count(0)
    expect(row.get_by_role("button", name="Hang up")).to_be_visible()
    expect(row.get_by_role("button", name="Answer")).to_have_count(0)


def test_times_follow_the_browsers_time_zone(new_context, viewer, synced):
    page = new_context(timezone_id="Asia/Tokyo").new_page()
    log_in(page, viewer)  # the login page already told the server the zone (a cookie)
    expect(page.locator("footer")).to_have_text("Times shown in Asia/Tokyo.")
    call = Call.objects.get(catapult_id=synced["active"])
    local = call.start_time.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M:%S")
    expect(page.locator(f"tr[data-call-id='{synced['active']}'] time")).to_have_text(local)


def test_operator_transfers_a_call(page, operator, synced, sim):
    active = synced["active"]
    log_in(page, operator)
    page.goto(f"/calls/{active}/")
    summary = page.locator("#call-summary")

    # A refusal by the form comes back as an error response, and is shown.
    summary.get_by_text("Transfer…").click()
    summary.get_by_label("Transfer to").fill("not a number")
    summary.get_by_role("button", name="Transfer", exact=True).click()
    expect(summary.get_by_role("alert")).to_contain_text("Transfer to: Enter a valid phone number")
    assert not AuditEntry.objects.exists()

    summary.get_by_text("Transfer…").click()
    summary.get_by_label("Transfer to").fill("+1 (919) 555-0199")
    summary.get_by_label("Whisper to the new party").fill("Incoming transfer")
    summary.get_by_role("button", name="Transfer", exact=True).click()
    status = summary.get_by_role("status")
    expect(status).to_contain_text("Transfer: Transferred; the new leg is c-")
    new_leg = AuditEntry.objects.get(action="transfer").new_call_id
    assert sim_call(sim, new_leg)["to"] == "+19195550199"

    cycle()
    page.reload()
    expect(page.locator("#call-summary .badge")).to_have_text("Transferring")
    legs = page.locator("section[aria-labelledby='props-title'] ul").first
    expect(legs.get_by_role("link", name=new_leg)).to_be_visible()
    expect(legs).to_contain_text("→ +1 (919) 555-0199")


def test_a_transfer_reads_as_a_plain_sentence(page, operator, synced):
    call = Call.objects.get(catapult_id=synced["active"])
    assert actions.perform(operator, call, "transfer", {"transfer_to": "+19195550199"}).ok
    cycle()
    log_in(page, operator)
    page.goto(f"/calls/{call.catapult_id}/")
    transfer = page.locator("#timeline li.entry-event .sentence").filter(has_text="Transfer")
    expect(transfer).to_have_count(1)
    sentence = transfer.inner_text()
    assert "{" not in sentence and '"' not in sentence, sentence
    assert "555-0199" in sentence or "+19195550199" in sentence, sentence

"""Recordings in a real browser: the player plays and seeks through our media view, the
Recordings page filters, and a viewer without permission gets no player."""

import re

import pytest
from playwright.sync_api import expect

from calls.catapult import CatapultClient
from calls.models import AuditEntry
from calls.recordings import media
from calls.recordings import sync as recordings_sync
from calls.recordings.models import Recording
from tests.browser.browsing import log_in, screenshot

pytestmark = pytest.mark.browser

# Resolves once the element can play: `canplay`, or already past it.
UNTIL_CANPLAY = """el => el.readyState >= 3 || new Promise((resolve, reject) => {
  el.addEventListener("canplay", () => resolve(true), {once: true});
  const failed = () => reject(new Error("media error " + el.error?.code));
  el.addEventListener("error", failed, {once: true});
})"""


@pytest.fixture
def recorded(synced):
    """The preloaded history's recordings, stored by the recordings sync; the longest one
    whose call is stored (long enough that a seek needs a new range)."""
    recordings_sync.sync_step(CatapultClient.from_settings())
    rec = (
        Recording.objects.filter(state="complete", call__isnull=False)
        .exclude(media_url="")
        .order_by("-duration")
        .first()
    )
    assert rec is not None and rec.duration > 20
    return rec


def test_an_operator_plays_and_seeks_a_recording(page, watch, operator, recorded):
    ranges: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: (
            "/media/" in r.url and ranges.append((r.request.headers.get("range", ""), r.status))
        ),
    )
    log_in(page, operator)
    page.goto(f"/calls/{recorded.call_catapult_id}/")
    player = page.locator(f"#player-{recorded.catapult_id}")
    expect(player).to_be_visible()
    assert player.get_attribute("preload") == "metadata"
    # Muted, a script may start playback without a click (Chromium's autoplay policy).
    player.evaluate("el => { el.muted = true; return el.play(); }")
    assert player.evaluate(UNTIL_CANPLAY) is True
    duration = player.evaluate("el => el.duration")
    assert duration == pytest.approx(recorded.duration, abs=1.5)

    with page.expect_response(
        lambda r: (
            "/media/" in r.url
            and r.status == 206
            and not r.request.headers.get("range", "bytes=0-").startswith("bytes=0-")
        )
    ) as seek:
        player.evaluate("el => { el.currentTime = el.duration * 0.85; }")
    answer = seek.value
    assert re.match(r"^bytes \d+-\d+/\d+$", answer.headers["content-range"])
    assert answer.headers["accept-ranges"] == "bytes"
    page.wait_for_function("el => el.currentTime >= el.duration * 0.8", arg=player.element_handle())
    player.evaluate("el => el.pause()")
    screenshot(page, "call-recordings")

    assert all(status in (200, 206) for _, status in ranges), ranges
    # One audit row however many ranges the player asked for.
    assert AuditEntry.objects.filter(action=media.PLAY, username="otto").count() == 1
    assert not watch.errors, watch.errors
    assert not watch.csp_problems(), watch.csp_problems()
    assert not [m for m in watch.console if m.startswith("error")], watch.console
    assert not watch.failed, watch.failed


def test_the_recordings_page_filters(page, watch, operator, recorded):
    log_in(page, operator)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Recordings").click()
    expect(page.get_by_role("heading", level=1, name="Recordings")).to_be_visible()
    rows = page.locator("#recordings-table tr[data-recording-id]")
    expect(rows.first).to_be_visible()
    total = min(50, Recording.objects.count())
    expect(rows).to_have_count(total)
    assert page.locator("#recordings-table audio").first.get_attribute("preload") == "none"

    assert not Recording.objects.filter(state="error").exists()
    with page.expect_response(lambda r: "state=error" in r.url):
        page.get_by_label("State").select_option("error")
    expect(page).to_have_url(re.compile(r"[?&]state=error"))
    expect(page.locator("#recordings-table")).to_contain_text("No recordings.")

    with page.expect_response(lambda r: "state=complete" in r.url):
        page.get_by_label("State").select_option("complete")
    expect(rows).to_have_count(min(50, Recording.objects.filter(state="complete").count()))
    expect(page.locator(f'tr[data-recording-id="{recorded.catapult_id}"]')).to_have_count(1)
    screenshot(page, "recordings-page")
    assert not watch.errors, watch.errors
    assert not watch.csp_problems(), watch.csp_problems()


def test_a_viewer_without_permission_gets_no_player(page, watch, viewer, recorded):
    log_in(page, viewer)
    page.goto(f"/calls/{recorded.call_catapult_id}/")
    panel = page.locator("#recordings")
    expect(panel).to_contain_text("Your role may not listen to recordings.")
    assert page.locator("audio").count() == 0
    page.goto("/recordings/")
    expect(page.locator("#recordings-table tr[data-recording-id]").first).to_be_visible()
    assert page.locator("audio").count() == 0
    assert not watch.errors and not watch.csp_problems()

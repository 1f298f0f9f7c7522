"""The console as a tool people use all day: the keyboard alone, both themes, a phone's
width, the filters' summary, and what shows while a request is in flight."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import Q
from playwright.sync_api import Page, expect

from calls.models import Call
from tests.browser.browsing import CALLER, log_in, row_ids, sim_call
from tests.browser.test_browser_accessibility import BLOCKING, _describe, axe_violations

pytestmark = pytest.mark.browser

DARK_BACKGROUND = "rgb(13, 17, 23)"
LIGHT_BACKGROUND = "rgb(246, 248, 250)"


def _focused(page: Page) -> dict:
    return page.evaluate(
        """() => {
        const el = document.activeElement;
        return {tag: el.tagName, id: el.id, text: (el.textContent || "").trim(),
                inSummary: Boolean(el.closest("#call-summary")),
                callId: el.getAttribute("data-call-id")};
    }"""
    )


def _background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def _params(page: Page) -> dict:
    return parse_qs(urlsplit(page.url).query)


# --- keyboard ------------------------------------------------------------------------------


def test_search_then_open_a_call_with_the_keyboard_alone(page, watch, viewer, synced):
    log_in(page, viewer)
    box = page.get_by_label("Number or SIP address")
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the "/" opened the box; it was not typed into it

    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        page.keyboard.type("9195550100")
    expect(page.locator("#calls-table .explain")).to_contain_text("ending in 9195550100")
    expected = set(
        Call.objects.filter(
            Q(from_digits__endswith="9195550100") | Q(to_digits__endswith="9195550100")
        ).values_list("catapult_id", flat=True)
    )
    assert row_ids(page) == expected

    # Shortcuts do not fire while typing: "j" is a letter in the box.
    rows = page.locator("#calls-table tr[data-call-id]")
    # (The form's own requests: the table's polls carry the query too, and a version.)
    with page.expect_response(lambda r: "q=9195550100j&" in r.url and "v=" not in r.url):
        page.keyboard.press("j")
    expect(box).to_have_value("9195550100j")
    with page.expect_response(lambda r: "q=9195550100&" in r.url and "v=" not in r.url):
        page.keyboard.press("Backspace")
    page.wait_for_load_state("networkidle")  # swapped in
    assert row_ids(page) == expected
    page.keyboard.press("Escape")  # leaves the box
    expect(box).not_to_be_focused()

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bis-selected\b"))
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("j")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("k")
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("j")  # (the search found the two calls of CALLER, maybe more)
    second = rows.nth(1)
    expect(second).to_have_class(re.compile(r"\bis-selected\b"))
    expect(page.locator("#calls-table tr.is-selected")).to_have_count(1)
    # The selection shows: not the plain row's background.
    assert second.evaluate("r => getComputedStyle(r).boxShadow") != "none"
    call_id = second.get_attribute("data-call-id")

    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/calls/{call_id}/$"))
    expect(page.locator("#call-summary")).to_be_visible()
    assert not watch.errors, watch.errors


def test_slash_from_another_page_goes_to_the_search_box(page, viewer, synced):
    log_in(page, viewer)
    page.goto("/audit/")
    page.keyboard.press("/")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_label("Number or SIP address")).to_be_focused()


def test_operator_hangs_up_with_the_keyboard_alone(page, operator, synced, sim):
    active = synced["active"]
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    log_in(page, operator)
    page.goto(f"/calls/{active}/")
    expect(page.locator("#call-summary .badge")).to_have_text("Active")

    # Tab from the top of the page until the summary's Hang up button has the focus.
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if focused["tag"] == "BUTTON" and focused["inSummary"] and focused["text"] == "Hang up":
            break
    else:
        pytest.fail("Tab never reached the Hang up button")
    # The focus ring is visible on it.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline

    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Accepted by the API")).to_be_visible()
    assert dialogs == ["Hang up this call?"]
    assert sim_call(sim, active)["state"] == "completed"


def test_question_mark_lists_the_shortcuts(page, viewer, synced):
    log_in(page, viewer)
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_hidden()

    # Typed into the search box, "?" is only a character.
    page.get_by_label("Number or SIP address").focus()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    page.keyboard.press("Escape")

    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Open the selected call")
    page.keyboard.press("j")  # nothing moves behind the dialog
    expect(page.locator("tr.is-selected")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # The top bar's button opens it too, and its Close button closes it.
    page.get_by_role("button", name="Shortcuts", exact=True).click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


# --- themes --------------------------------------------------------------------------------


def test_theme_toggle_is_remembered(page, viewer, synced):
    page.emulate_media(color_scheme="light")
    log_in(page, viewer)
    theme = page.get_by_label("Theme")
    expect(theme).to_have_value("system")
    assert _background(page) == LIGHT_BACKGROUND

    theme.select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert _background(page) == DARK_BACKGROUND

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_label("Theme")).to_have_value("dark")
    assert _background(page) == DARK_BACKGROUND
    page.goto("/audit/")  # every page, not only the one it was chosen on
    assert _background(page) == DARK_BACKGROUND

    # "System" follows the system's setting again.
    page.get_by_label("Theme").select_option("system")
    assert _background(page) == LIGHT_BACKGROUND
    page.emulate_media(color_scheme="dark")
    assert _background(page) == DARK_BACKGROUND
    page.reload()
    assert _background(page) == DARK_BACKGROUND
    # An explicit light theme wins over a dark system.
    page.get_by_label("Theme").select_option("light")
    assert _background(page) == LIGHT_BACKGROUND


AXE_PAGES = {
    "calls": lambda synced: "/",
    "shortcuts": lambda synced: "/",
    "filtered": lambda synced: "/?direction=in&tag=x&min_duration=1",
    "call-detail": lambda synced: f"/calls/{synced['active']}/",
    "number": lambda synced: f"/numbers/{CALLER}/",
    "audit": lambda synced: "/audit/",
    "sync": lambda synced: "/sync/",
    "place-call": lambda synced: "/place/",
    "overview": lambda synced: "/overview/?period=24h",
    "recordings": lambda synced: "/recordings/",
    "alerts": lambda synced: "/alerts/",
}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_accessible_in_both_themes(new_context, axe_script, operator, synced, theme):
    # The pages' CSP would refuse the injected axe script (test_browser_csp.py checks it).
    context = new_context(bypass_csp=True)
    context.add_init_script(f"localStorage.setItem('theme', '{theme}')")
    page = context.new_page()
    # The opposite system setting: the chosen theme must win over it.
    page.emulate_media(color_scheme="light" if theme == "dark" else "dark")
    log_in(page, operator)
    problems = {}
    for name, path in AXE_PAGES.items():
        page.goto(path(synced))
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        if name == "shortcuts":
            page.keyboard.press("?")
            expect(page.get_by_role("dialog")).to_be_visible()
        violations = axe_violations(page, axe_script)
        found = [v for v in violations if v["impact"] in BLOCKING or v["id"] == "color-contrast"]
        if found:
            problems[name] = found
    logged_out = context.new_page()
    context.clear_cookies()
    logged_out.goto("/login/")
    found = [v for v in axe_violations(logged_out, axe_script) if v["impact"] in BLOCKING]
    if found:
        problems["login"] = found
    assert not problems, _describe(problems)


# --- a phone's width -----------------------------------------------------------------------


def test_no_sideways_scrolling_at_390_px(page, operator, synced):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, operator)
    paths = [
        "/",
        "/?direction=in&tag=support&min_duration=1&cause=NORMAL_CLEARING",
        f"/calls/{synced['active']}/",
        f"/numbers/{CALLER}/",
        "/audit/",
        "/sync/",
        "/place/",
    ]
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        wide = page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
                .filter((el) => !el.closest(".table-scroll"))
                .slice(0, 5).map((el) => el.tagName + "." + el.className + "#" + el.id)"""
        )
        assert widths[0] <= widths[1], f"{path}: {widths[0]} px in {widths[1]}: {wide}"
    # The search box fits, whole, beside nothing.
    page.goto("/")
    box = page.get_by_label("Number or SIP address").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # Call rows are cards: each call's state is in sight, nothing to scroll to.
    for badge in page.locator("#calls-table tr[data-call-id] .badge").all()[:5]:
        where = badge.bounding_box()
        assert where["x"] >= 0 and where["x"] + where["width"] <= 390, where
    # Other wide tables scroll inside their own box instead.
    page.goto("/sync/")
    assert (
        page.locator("#sync-body .table-scroll").last.evaluate(
            "el => getComputedStyle(el).overflowX"
        )
        == "auto"
    )


# --- filters -------------------------------------------------------------------------------


def test_more_filters_open_when_one_of_them_is_set(page, viewer, synced):
    log_in(page, viewer)
    more = page.locator("#filters details.more-filters")
    expect(more).not_to_have_attribute("open", "")
    expect(page.get_by_label("Tag")).to_be_hidden()
    expect(page.get_by_label("State")).to_be_visible()  # the most used are in the first row

    page.goto("/?tag=billing")
    expect(more).to_have_attribute("open", "")
    expect(page.get_by_label("Tag")).to_have_value("billing")

    page.goto("/?direction=in")  # a filter of the first row: nothing to open
    expect(more).not_to_have_attribute("open", "")

    # Choosing a custom start range shows its dates, which live under "More filters".
    page.get_by_label("Started").select_option("custom")
    expect(more).to_have_attribute("open", "")
    expect(page.get_by_label("From", exact=True)).to_be_visible()


def test_removing_one_filter_keeps_the_others(page, watch, viewer, synced):
    log_in(page, viewer)
    page.goto("/?direction=out&state=completed&min_duration=1")
    summary = page.locator("#calls-table .filtered-by")
    expect(summary).to_contain_text("Filtered by")
    chips = summary.locator("a.chip")
    expect(chips).to_have_count(3)
    expect(chips.nth(0)).to_have_text(re.compile(r"Direction: Outbound"))
    loads = watch.loads

    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        summary.get_by_role("link", name=re.compile(r"^Remove State")).click()
    expect(page).not_to_have_url(re.compile(r"state="))
    assert _params(page) == {"direction": ["out"], "min_duration": ["1"]}
    expect(chips).to_have_count(2)
    expect(summary).not_to_contain_text("State")
    expected = set(
        Call.objects.filter(direction="out", duration__gte=1).values_list("catapult_id", flat=True)
    )
    assert row_ids(page) == expected
    # The fields follow: changing another filter does not bring the removed one back.
    expect(page.get_by_label("State")).to_have_value("")
    expect(page.get_by_label("Direction")).to_have_value("out")
    assert watch.loads == loads  # swapped by htmx, like the pager

    # With the keyboard: Tab to a chip, Enter.
    chip = summary.get_by_role("link", name=re.compile(r"^Remove Direction"))
    chip.focus()
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(re.compile(r"direction="))
    expect(chips).to_have_count(1)
    expect(page.get_by_label("Direction")).to_have_value("")


# --- requests in flight --------------------------------------------------------------------


def test_a_slow_request_shows_the_progress_bar(page, viewer, synced):
    log_in(page, viewer)
    held = []
    page.route(re.compile(r"[?&]state=live"), lambda route: held.append(route))
    body = page.locator("body")
    expect(body).not_to_have_class(re.compile(r"\bis-busy\b"))

    page.get_by_label("State").select_option("live")
    expect(body).to_have_class(re.compile(r"\bis-busy\b"))
    # Visible: the bar fades in (after 150 ms, so quick answers do not flicker).
    page.wait_for_function("() => getComputedStyle(document.body, '::before').opacity === '1'")
    assert page.evaluate("getComputedStyle(document.body, '::before').height") == "3px"
    assert held, "the request was not held"

    held[0].continue_()
    expect(body).not_to_have_class(re.compile(r"\bis-busy\b"))
    expect(page).to_have_url(re.compile(r"state=live"))
    live = set(
        Call.objects.filter(state__in=Call.LIVE_STATES).values_list("catapult_id", flat=True)
    )
    expect(page.locator("#calls-table tr[data-call-id]")).to_have_count(len(live))
    page.unroute(re.compile(r"[?&]state=live"))

    # Polls run all the time and leave it off.
    page.wait_for_timeout(5500)
    expect(body).not_to_have_class(re.compile(r"\bis-busy\b"))

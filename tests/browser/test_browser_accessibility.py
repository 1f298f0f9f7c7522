"""axe-core on the main pages: no serious or critical accessibility violations.

The pages send a strict Content-Security-Policy that would block the injected axe script,
so these tests use a browser context that bypasses CSP (test_browser_csp.py checks the
pages under their real policy).
"""

import json

import pytest
from playwright.sync_api import Page, expect

from calls import actions
from calls.models import Call
from tests.browser.browsing import CALLER, PASSWORD, log_in

pytestmark = pytest.mark.browser

BLOCKING = ("serious", "critical")

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.slice(0, 6).map((n) => ({
      target: n.target.join(" "), summary: n.failureSummary,
    })),
    count: v.nodes.length,
  }));
}"""


def axe_violations(page: Page, axe_script) -> list[dict]:
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=axe_script)
    return page.evaluate(_RUN_AXE)


def _describe(violations: list[dict]) -> str:
    return json.dumps(violations, indent=2, ensure_ascii=False)


@pytest.fixture
def axe_page(new_context) -> Page:
    context = new_context(bypass_csp=True)
    context.set_default_timeout(10_000)
    return context.new_page()


def _log_in_page(page, synced, operator):
    page.goto("/login/")
    page.get_by_label("Username").fill(operator.get_username())
    page.get_by_label("Password").fill(PASSWORD + "-wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()  # the page with its error message


def _calls(page, synced, operator):
    log_in(page, operator)


def _search(page, synced, operator):
    log_in(page, operator)
    page.goto("/?q=(919)+555-0100")
    expect(page.locator("#calls-table mark").first).to_be_visible()


def _detail(page, synced, operator):
    log_in(page, operator)
    page.goto(f"/calls/{synced['active']}/")
    page.get_by_text("Transfer…").click()  # the transfer form is checked too
    expect(page.get_by_label("Transfer to")).to_be_visible()
    expect(page.locator("#recordings")).not_to_contain_text("Loading")


def _number(page, synced, operator):
    log_in(page, operator)
    page.goto(f"/numbers/{CALLER}/")
    expect(page.get_by_role("heading", name="Live now")).to_be_visible()


def _audit(page, synced, operator):
    call = Call.objects.get(catapult_id=synced["active"])
    assert actions.perform(operator, call, "record_on", {"recording_file_format": "mp3"}).ok
    log_in(page, operator)
    page.goto("/audit/")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)


def _place(page, synced, operator):
    log_in(page, operator)
    page.goto("/place/")
    expect(page.get_by_role("button", name="Place call")).to_be_visible()


PAGES = {
    "login": _log_in_page,
    "calls": _calls,
    "search": _search,
    "call-detail": _detail,
    "number": _number,
    "audit": _audit,
    "place-call": _place,
}


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violations(axe_page, axe_script, synced, operator, name):
    PAGES[name](axe_page, synced, operator)
    violations = axe_violations(axe_page, axe_script)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    others = [v for v in violations if v["impact"] not in BLOCKING]
    if others:
        print(f"{name}: minor accessibility findings:\n{_describe(others)}")
    assert not blocking, f"{name} ({axe_page.url}):\n{_describe(blocking)}"
    # Nothing sticks out sideways at 1400 px: no horizontal scrolling of the whole page.
    widths = axe_page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{name} is {widths[0]} px wide in a {widths[1]} px window"

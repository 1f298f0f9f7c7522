"""The pages under their real Content-Security-Policy: nothing is blocked and htmx works."""

import re

import pytest
from playwright.sync_api import expect

from calls.models import Call
from tests.browser.browsing import CALLER, log_in, row_ids

pytestmark = pytest.mark.browser


def test_no_csp_violations_and_htmx_works(page, watch, operator, synced):
    response = page.goto("/login/")
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, policy
    log_in(page, operator)
    assert page.evaluate("typeof window.htmx") == "object"

    # A filter swaps the table through htmx, with no page load.
    loads = watch.loads
    with page.expect_response(
        lambda r: "state=live" in r.url and r.request.headers.get("hx-request")
    ):
        page.get_by_label("State").select_option("live")
    expect(page).to_have_url(re.compile(r"[?&]state=live"))
    live = set(
        Call.objects.filter(state__in=Call.LIVE_STATES).values_list("catapult_id", flat=True)
    )
    expect(page.locator("#calls-table tr[data-call-id]")).to_have_count(len(live))
    assert row_ids(page) == live
    assert watch.loads == loads

    # The other pages; the call's recordings are an htmx request made on load.
    with page.expect_response(re.compile(r"/recordings/$")):
        page.goto(f"/calls/{synced['active']}/")
    for path in (f"/numbers/{CALLER}/", "/audit/", "/place/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")

    assert not watch.csp_problems(), "\n".join(watch.csp_problems())
    assert not watch.errors, watch.errors
    assert not watch.failed, watch.failed
    errors = [m for m in watch.console if m.startswith("error")]
    assert not errors, errors

    # The watch does see a violation: an inline script is refused.
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.head.append(script);
    }"""
    )
    for _ in range(20):
        if watch.violations:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.inlineRan") is None
    assert [v["directive"] for v in watch.violations] == ["script-src-elem"], watch.violations

"""The Overview in Chromium: charts drawn under the strict CSP, a bar drills into the calls
list with its filter, and axe-core finds nothing serious."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.browsing import log_in, row_ids, screenshot
from tests.browser.test_browser_accessibility import (  # noqa: F401 - axe_page: a fixture
    BLOCKING,
    _describe,
    axe_page,
    axe_violations,
)

pytestmark = pytest.mark.browser


def test_overview_draws_its_charts_and_a_bar_opens_its_calls(page, watch, viewer, synced):
    log_in(page, viewer)
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    page.goto("/overview/?period=24h")
    charts = page.locator("svg.chart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 3
    assert page.locator("svg.chart rect").count() > 10
    expect(page.locator("#live-title")).to_have_text("Live now")
    screenshot(page, "overview")

    # The first bar segment of the volume chart: its title says how many calls it is.
    bar = page.locator("svg.chart").first.locator("a").first
    title = bar.locator("title").text_content()
    expected = int(re.search(r": (\d+) ", title).group(1))
    bar.click()
    expect(page.get_by_role("heading", level=1, name="Calls")).to_be_visible()
    assert "period=custom" in page.url and "outcome=" in page.url
    assert len(row_ids(page)) == expected

    assert not watch.errors, watch.errors
    assert not watch.csp_problems(), watch.csp_problems()
    assert not [m for m in watch.console if m.startswith("error")], watch.console


def test_overview_filters_update_the_charts_in_place(page, watch, viewer, synced):
    log_in(page, viewer)
    page.goto("/overview/?period=24h")
    summary = page.locator("#volume-summary")
    before = summary.text_content()
    page.get_by_label("Direction").select_option("out")
    expect(summary).not_to_have_text(before)
    assert "direction=out" in page.url  # bookmarkable, like the calls list
    assert not watch.csp_problems(), watch.csp_problems()


def test_overview_is_accessible(axe_page, axe_script, viewer, synced):  # noqa: F811
    log_in(axe_page, viewer)
    axe_page.goto("/overview/?period=24h")
    expect(axe_page.locator("svg.chart").first).to_be_visible()
    blocking = [v for v in axe_violations(axe_page, axe_script) if v["impact"] in BLOCKING]
    assert not blocking, _describe(blocking)

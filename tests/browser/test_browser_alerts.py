"""Saved views and alerts in Chromium: save the calls list's filters as a view, make a
rule from it, evaluate, see it fire in the history, acknowledge it. Under the real CSP,
with no console errors."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from calls.alerts import evaluate
from calls.alerts.models import Rule, SavedView
from calls.models import Call
from calls.roles import ADMIN, assign_role
from tests.browser.browsing import PASSWORD, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def admin(transactional_db):
    user = get_user_model().objects.create_user("ada", password=PASSWORD)
    assign_role(user, ADMIN)
    return user


def test_saved_view_to_rule_to_firing_alert(page, watch, admin, synced):
    log_in(page, admin)

    # Filter the list (htmx: the address bar changes, the page does not reload) ...
    with page.expect_response(
        lambda r: "direction=in" in r.url and r.request.headers.get("hx-request")
    ):
        page.get_by_label("Direction").select_option("in")
    expect(page).to_have_url(re.compile(r"[?&]direction=in"))

    # ... and save what it shows now as a shared view.
    page.locator("#save-view summary").click()
    page.locator("#save-view-name").fill("Inbound calls")
    page.get_by_label("Share with everyone").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#save-view [role=status]")).to_contain_text("Saved “Inbound calls”")
    view = SavedView.objects.get(name="Inbound calls")
    assert view.query == "direction=in" and view.shared

    # The navigation lists it, on every page.
    page.goto("/views/")
    page.locator("nav .nav-views summary").click()
    expect(page.locator("nav .nav-views").get_by_role("link", name="Inbound calls")).to_be_visible()

    # Make a rule from it: more than 0 inbound calls in the last 24 h (the synced ones).
    page.get_by_role("link", name="Make a rule from it").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New alert rule")
    expect(page.get_by_label("Saved view")).to_have_value(str(view.pk))
    page.get_by_label("Name", exact=True).fill("Inbound traffic")
    page.get_by_label("Window (minutes)").fill("1440")
    page.get_by_role("button", name="Create the rule").click()
    expect(page).to_have_url(re.compile(r"/alerts/$"))
    rule = Rule.objects.get(name="Inbound traffic")
    assert rule.view_query == "direction=in" and rule.metric == "call_count"

    # A bad value is refused with the reason, in place.
    page.goto(f"/alerts/rules/{rule.pk}/edit/")
    page.get_by_label("Time zone of the hours").fill("Mars/Olympus")
    with page.expect_response(lambda r: r.status == 400):
        page.get_by_role("button", name="Save the rule").click()
    expect(page.locator("#rule-form [role=alert]")).to_contain_text("not saved")

    # The evaluation (beat runs it every minute) finds it firing.
    inbound = Call.objects.filter(direction="in").count()
    assert inbound > 0
    evaluate.run()
    page.goto("/alerts/history/")
    row = page.locator("#history-table tbody tr").first
    expect(row).to_contain_text("Inbound traffic")
    expect(row).to_contain_text("Still firing")

    # Acknowledge it from the rules page (an htmx POST that returns the row).
    page.goto("/alerts/")
    rule_row = page.locator(f"#rule-{rule.pk}")
    expect(rule_row).to_contain_text("Firing")
    rule_row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"#rule-{rule.pk}")).to_contain_text("Acknowledged by ada")
    screenshot(page, "alerts-rules")

    assert not watch.csp_problems(), "\n".join(watch.csp_problems())
    assert not watch.errors, watch.errors
    expected_failures = [f for f in watch.failed if not f.startswith("400 POST")]
    assert not expected_failures, watch.failed
    errors = [m for m in watch.console if m.startswith("error") and "400" not in m]
    assert not errors, errors

"""What the browser tests share besides fixtures: constants, logging in, artifacts."""

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

from calls import sync
from calls.models import SyncRun

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE.parents[1] / "artifacts" / "screenshots"
AXE_SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite may run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}
PASSWORD = "pw-for-browser-tests-1"
# The caller of the calls the tests search for, act on and open the number page of.
CALLER = "+19195550100"


def cycle() -> SyncRun:
    """One sync cycle, as the worker runs it; it must succeed."""
    run = sync.run_cycle()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    return run


def log_in(page: Page, user, password: str = PASSWORD) -> None:
    """Log in through the real form; lands on the calls list."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Calls")).to_be_visible()


def row_ids(page: Page) -> set[str]:
    """The Catapult ids of the call rows in the calls table."""
    return set(
        page.locator("#calls-table tr[data-call-id]").evaluate_all(
            "rows => rows.map(row => row.dataset.callId)"
        )
    )


def sim_call(sim, call_id: str) -> dict:
    """The call as the simulator has it now."""
    return sim.call_snapshot(call_id)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@dataclass
class PageWatch:
    """Console messages, uncaught errors, CSP violations, failed responses and full loads."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # responses with an error status
    loads: int = 0

    def csp_problems(self) -> list[str]:
        blocked = [m for m in self.console if re.search(r"Content.Security.Policy", m, re.I)]
        return blocked + [str(v) for v in self.violations]


# Runs in every document before its own scripts; reports to a function exposed by the test.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCspViolation({
    directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample,
  });
});
"""

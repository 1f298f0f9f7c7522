"""Headless Chromium drives the dashboard, served by a live server, against the simulator.

Chromium must be at /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it);
without it every test here is skipped. The accessibility tests also need `npm`, which
installs the pinned axe-core from package-lock.json into node_modules on first use.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect, sync_playwright

from calls.roles import OPERATOR, VIEWER, assign_role
from tests.browser.browsing import (
    AXE_SCRIPT,
    CALLER,
    CHROMIUM,
    CHROMIUM_ARGS,
    HERE,
    PASSWORD,
    REPORT_CSP_VIOLATIONS,
    VIEWPORT,
    PageWatch,
    cycle,
)

# Pages poll every 3 to 5 s: assertions on what a poll brings wait longer than the default.
expect.set_options(timeout=10_000)


def pytest_runtest_setup(item):
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium` "
            "(.ci/run does it) to run the browser tests"
        )


# --- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


# Playwright's sync API keeps an asyncio loop running in the main thread while it is
# started, and Django refuses ORM calls from a thread with a running loop. So Playwright
# lives only as long as this directory's tests (pytest-playwright makes it session-wide,
# which would break every database test collected after these), and only meanwhile are
# ORM calls from the test thread allowed: the tests are plain synchronous code.
@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts):
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    driver = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(driver)
    try:
        yield driver
    finally:
        driver.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args, browser_type):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser):
    instance = launch_browser()
    yield instance
    instance.close()


@pytest.fixture(scope="package")
def browser_context_args(playwright, device, live_server):
    args = dict(playwright.devices[device]) if device else {}
    return {**args, "viewport": VIEWPORT, "base_url": live_server.url}


@pytest.fixture
def context(new_context):
    ctx = new_context()
    ctx.set_default_timeout(10_000)
    return ctx


@pytest.fixture
def watch(page) -> PageWatch:
    """What the pages shown in `page` report; attached before the first navigation."""
    seen = PageWatch()
    page.on(
        "console",
        lambda message: seen.console.append(
            f"{message.type}: {message.text} ({message.location.get('url', '')})"
        ),
    )
    page.on("pageerror", lambda error: seen.errors.append(str(error)))

    def loaded(_page):
        seen.loads += 1

    def responded(response):
        if response.status >= 400:
            seen.failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("load", loaded)
    page.on("response", responded)
    page.expose_function(
        "__reportCspViolation", lambda violation: seen.violations.append(violation)
    )
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    return seen


# --- data and users ----------------------------------------------------------------------


@pytest.fixture
def synced(sim, catapult_settings, live_server):
    """Finished and live calls in the simulator, synced into the database by one cycle."""
    sim.preload(40, events_per_call=8, live=3)
    ringing = sim.create_inbound_call(from_=CALLER, auto_answer=False)
    active = sim.create_inbound_call(from_=CALLER, auto_answer=True)
    cycle()
    return {"ringing": ringing, "active": active}


def _user(name: str, role: str):
    user = get_user_model().objects.create_user(name, password=PASSWORD)
    assign_role(user, role)
    return user


@pytest.fixture
def operator(transactional_db):
    return _user("otto", OPERATOR)


@pytest.fixture
def viewer(transactional_db):
    return _user("vera", VIEWER)


# --- accessibility -----------------------------------------------------------------------


@pytest.fixture(scope="package")
def axe_script() -> Path:
    """axe-core's browser bundle, installed from the committed lock file when missing."""
    if not AXE_SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: it is needed to install axe-core")
        try:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=HERE,
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"`npm ci` could not install axe-core: {exc}")
        if result.returncode != 0 or not AXE_SCRIPT.exists():
            pytest.skip(f"`npm ci` could not install axe-core: {result.stderr.strip()[-800:]}")
    return AXE_SCRIPT

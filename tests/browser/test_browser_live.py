"""Live updates in a real browser, served by a real ASGI server (uvicorn) in a subprocess.

pytest-django's live_server is WSGI, where /stream/ answers 204 and pages only poll: here
the pages hold their server-sent-events stream, the simulator's callbacks reach the same
server, and the server is restarted under an open page.
"""

import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Page, expect

from calls import push, sync
from calls.locks import redis_client
from calls.models import AuditEntry, Call, SyncRun
from dashboard.embedded_redis import free_port, wait_for_port
from tests.browser.browsing import CALLER, VIEWPORT, PageWatch, log_in, row_ids
from tests.conftest import SIM_SECRET, SIM_TOKEN, SIM_USER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
# What a live update may take on a loaded machine: generous, since it is auto-waited.
LIVE = 20_000

# Runs in every document before its own scripts: records what each EventSource the page
# opens receives, so a test can tell the stream (not the regions' polling) brought it.
RECORD_STREAM = """
(() => {
  const Native = window.EventSource;
  if (!Native) { return; }
  const live = (window.__live = { opened: 0, errors: 0, messages: [] });
  window.EventSource = class extends Native {
    constructor(url, options) {
      super(url, options);
      this.addEventListener("open", () => { live.opened += 1; });
      this.addEventListener("error", () => { live.errors += 1; });
      for (const name of ["change", "reset", "logout"]) {
        this.addEventListener(name, (event) => {
          live.messages.push({ event: name, id: event.lastEventId, data: event.data,
                               connection: live.opened });
        });
      }
    }
  };
})();
"""


# --- the ASGI server ------------------------------------------------------------------------

try:  # loaded here: between fork and exec a child should only make the system call
    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except OSError:  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _database_url() -> str:
    """The test database, as a DATABASE_URL for another process (see tests/test_worker.py)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class AsgiServer:
    """`python -m uvicorn dashboard.asgi:application`, as bin/up serves the app."""

    def __init__(self, env: dict[str, str], port: int, log: Path):
        self.env = env
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None, "already running"
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts} ---\n")
            out.flush()
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "dashboard.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--lifespan",
                    "off",
                    "--timeout-keep-alive",
                    "10",
                    # An open stream must not hold up the stop.
                    "--timeout-graceful-shutdown",
                    "1",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own session (a Ctrl-C reaches the test run, which stops it), and
                # SIGTERM should the test run itself be killed: nothing is left behind.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if not wait_for_port(self.port, 60, process=self.process):
            self.stop()
            pytest.fail(f"uvicorn did not start on port {self.port}:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM, as a restart sends; SIGKILL if it does not go in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def asgi_server(transactional_db, sim, catapult_settings, redis_url, tmp_path):
    """The dashboard under uvicorn on the test database, with the simulator's callbacks
    pointed at it; stopped after the test, whatever happened."""
    password = secrets.token_urlsafe(16)
    port = free_port()
    env = {
        # The test process allows sync ORM calls from async code for Playwright's sake:
        # the server must not, or an ORM call in an async view would pass unnoticed.
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "STATE_DIR": str(settings.STATE_DIR),
        "CATAPULT_BASE_URL": sim.base_url,
        "CATAPULT_USER_ID": SIM_USER,
        "CATAPULT_API_TOKEN": SIM_TOKEN,
        "CATAPULT_API_SECRET": SIM_SECRET,
        # An account in the environment means Catapult's 1 request/s; the simulator has none.
        "CATAPULT_RATE_LIMIT": "0",
        "CALLBACK_PASSWORD": password,
        "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}",
        "SYNC_LATE_EVENTS_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    server = AsgiServer(env, port, tmp_path / "uvicorn.log")
    server.start()
    sim.incoming_call_url = f"http://catapult:{password}@127.0.0.1:{port}/callbacks/catapult/"
    try:
        yield server
    finally:
        sim.incoming_call_url = None
        server.stop()
        output = server.output()
        # The server's log must never carry the API secret or the callback password.
        assert SIM_SECRET not in output and password not in output
        if "Traceback" in output:
            print(f"\nuvicorn's log ends:\n{output[-4000:]}")


# The pages come from the ASGI server, not from live_server (this module's contexts only).
@pytest.fixture
def browser_context_args(playwright, device, asgi_server):
    args = dict(playwright.devices[device]) if device else {}
    return {**args, "viewport": VIEWPORT, "base_url": asgi_server.url}


def cycle(timeout: float = 30.0) -> SyncRun:
    """One successful sync cycle. The sync lock lives in Redis, which other test runs may
    share: while one of theirs holds it, ours is skipped, so it is tried again."""
    deadline = time.monotonic() + timeout
    while True:
        run = sync.run_cycle()
        if run.outcome != SyncRun.Outcome.SKIPPED or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    return run


@pytest.fixture
def history(sim, catapult_settings, transactional_db):
    """Some finished calls, synced: the list is not empty and the API was just answering."""
    sim.preload(5, events_per_call=6)
    cycle()


@pytest.fixture
def recorded(page: Page) -> Page:
    page.add_init_script(RECORD_STREAM)
    return page


# --- helpers --------------------------------------------------------------------------------


def open_calls_page(page: Page, user) -> None:
    """Log in (lands on the calls list) and wait for the page's stream to be open."""
    log_in(page, user)
    expect(page.locator("body")).to_have_attribute("data-stream", "open", timeout=LIVE)
    page.evaluate("window.__samePage = true")


def messages(page: Page) -> list[dict]:
    return page.evaluate("window.__live ? window.__live.messages : []")


def names_call(message: dict, call_id: str) -> bool:
    return call_id in message["data"] or message["event"] == "reset"


def csrf_token(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def strip_entry(page: Page, call_id: str):
    return page.locator(f"#ringing [data-ringing-id='{call_id}']")


def wait_for(page: Page, predicate, timeout: float = 20.0) -> bool:
    """Poll `predicate`; waiting through the page lets Playwright deliver its events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        page.wait_for_timeout(100)
    return bool(predicate())


# --- the tests ------------------------------------------------------------------------------


def test_a_ringing_call_appears_on_an_open_page(recorded, watch, operator, history, sim):
    page = recorded
    open_calls_page(page, operator)
    expect(page).to_have_title("Calls · Catapult dashboard")
    loads = watch.loads

    started = time.monotonic()
    call_id = sim.create_inbound_call(from_=CALLER, auto_answer=False)
    row = page.locator(f"#calls-table tr[data-call-id='{call_id}']")
    expect(row).to_be_visible(timeout=LIVE)
    elapsed = time.monotonic() - started
    print(f"\nringing call {call_id}: row visible {elapsed:.2f} s after it was created")

    expect(row.locator(".badge")).to_have_text("Ringing")
    entry = strip_entry(page, call_id)
    expect(entry).to_be_visible(timeout=LIVE)
    expect(entry.get_by_role("button", name="Answer")).to_be_visible()
    expect(entry.get_by_role("button", name="Reject")).to_be_visible()
    expect(page).to_have_title("(1 ringing) Calls · Catapult dashboard")

    # Brought by the stream, in the same document.
    assert any(m["event"] == "change" and call_id in m["data"] for m in messages(page))
    assert page.evaluate("window.__samePage") is True
    assert watch.loads == loads
    assert not watch.errors, watch.errors


def test_answering_from_the_strip(page, watch, operator, history, sim, clock):
    open_calls_page(page, operator)
    call_id = sim.create_inbound_call(from_=CALLER, auto_answer=False)
    entry = strip_entry(page, call_id)
    expect(entry).to_be_visible(timeout=LIVE)
    # The simulator's clock starts with the test: bring it to now, so the answer event is
    # stamped after the operator's request (the timeline confirms an action by it).
    clock.set_ms(int(time.time() * 1000))

    with page.expect_response(
        lambda r: r.url.endswith(f"/calls/{call_id}/actions/answer/") and r.request.method == "POST"
    ) as answered:
        entry.get_by_role("button", name="Answer").click()
    assert answered.value.status == 200
    assert "from=strip" in (answered.value.request.post_data or "")

    assert wait_for(page, lambda: sim.call_snapshot(call_id)["state"] == "active")
    # The answer callback reaches the server, and the strip lets the call go by itself.
    expect(entry).to_have_count(0, timeout=LIVE)
    expect(page).to_have_title("Calls · Catapult dashboard", timeout=LIVE)
    expect(page.locator(f"#calls-table tr[data-call-id='{call_id}'] .badge")).to_have_text(
        "Active", timeout=LIVE
    )
    audit = AuditEntry.objects.get(action="answer")
    assert (audit.outcome, audit.user.get_username()) == (AuditEntry.Outcome.ACCEPTED, "otto")
    assert Call.objects.get(catapult_id=call_id).state == "active"

    page.goto(f"/calls/{call_id}/")
    expect(page.locator("#call-summary .badge")).to_have_text("Active")
    expect(page.locator("#call-summary .pending")).to_have_count(0)
    action = page.locator("#timeline li.entry-action")
    expect(action).to_have_count(1)
    expect(action.locator(".sentence")).to_contain_text("otto asked to answer")
    expect(action.locator(".confirm")).to_have_text(
        re.compile(r"^Confirmed at \d\d:\d\d:\d\d by the event “Answered")
    )
    expect(action.locator(".pending")).to_have_count(0)
    assert not watch.errors, watch.errors
    assert not watch.failed, watch.failed


def test_a_viewer_gets_the_strip_without_buttons(page, watch, viewer, history, sim):
    open_calls_page(page, viewer)
    call_id = sim.create_inbound_call(from_=CALLER, auto_answer=False)
    entry = strip_entry(page, call_id)
    expect(entry).to_be_visible(timeout=LIVE)
    expect(entry.get_by_role("link")).to_be_visible()
    expect(page).to_have_title("(1 ringing) Calls · Catapult dashboard")
    strip = page.locator("#ringing")
    for name in ("Answer", "Reject"):
        expect(strip.get_by_role("button", name=name)).to_have_count(0)
    expect(page.locator("#calls-table").get_by_role("button")).to_have_count(0)
    assert not watch.failed, watch.failed

    # Not even through the door a button would use.
    response = page.request.post(
        f"/calls/{call_id}/actions/answer/",
        form={"from": "strip"},
        headers={"X-CSRFToken": csrf_token(page)},
    )
    assert response.status == 403
    assert sim.call_snapshot(call_id)["state"] == "started"


def test_a_restarted_server_loses_no_update(recorded, watch, operator, history, sim, asgi_server):
    page = recorded
    streams = []
    page.on("request", lambda r: streams.append(r) if "/stream/" in r.url else None)
    open_calls_page(page, operator)
    loads = watch.loads

    # A first change, so the page has a position (Last-Event-ID) to come back with.
    before = sim.create_inbound_call(from_=CALLER, auto_answer=False)
    expect(page.locator(f"#calls-table tr[data-call-id='{before}']")).to_be_visible(timeout=LIVE)
    assert wait_for(page, lambda: any(before in m["data"] for m in messages(page)))

    asgi_server.stop()
    expect(page.locator("body")).to_have_attribute("data-stream", "reconnecting", timeout=LIVE)
    seen = messages(page)
    position = seen[-1]["id"]
    asked_before = len(streams)

    # A call that no callback announces (the server is down): the sync finds it, and
    # writes and announces it while no server is there to pass it on.
    sim.incoming_call_url = None
    missed = sim.create_inbound_call(auto_answer=False)
    cycle()
    announced = [push.message(i, f) for i, f in redis_client().xrange(push.STREAM, f"({position}")]
    assert any(missed in m["calls"] for m in announced), announced
    assert Call.objects.filter(catapult_id=missed, state="started").exists()

    asgi_server.start()
    expect(page.locator("body")).to_have_attribute("data-stream", "open", timeout=LIVE)
    expect(page.locator(f"#calls-table tr[data-call-id='{missed}']")).to_be_visible(timeout=LIVE)
    expect(strip_entry(page, missed)).to_be_visible(timeout=LIVE)
    expect(page).to_have_title("(2 ringing) Calls · Catapult dashboard")
    assert row_ids(page) >= {before, missed}

    # It came back by itself with where it was, and the stream replayed what it missed.
    assert page.evaluate("window.__samePage") is True
    assert watch.loads == loads
    again = streams[asked_before:]
    assert again, "the page never asked for its stream again"
    assert {r.all_headers().get("last-event-id") for r in again} == {position}
    assert wait_for(page, lambda: any(names_call(m, missed) for m in messages(page)[len(seen) :]))


def test_no_csp_violations_with_the_stream_open(recorded, watch: PageWatch, operator, history, sim):
    page = recorded
    response = page.goto("/login/")
    policy = response.headers.get("content-security-policy", "")
    assert "connect-src 'self'" in policy and "script-src 'self'" in policy, policy
    open_calls_page(page, operator)

    # Live swaps of the table, the strip and the title.
    call_id = sim.create_inbound_call(from_=CALLER, auto_answer=False)
    expect(strip_entry(page, call_id)).to_be_visible(timeout=LIVE)
    expect(page.locator(f"#calls-table tr[data-call-id='{call_id}']")).to_be_visible()

    # A call's page, with its own live regions: the caller hangs up.
    page.goto(f"/calls/{call_id}/")
    expect(page.locator("body")).to_have_attribute("data-stream", "open", timeout=LIVE)
    expect(page.locator("#call-summary .badge")).to_have_text("Ringing")
    count = len(messages(page))
    sim.hangup(call_id)
    expect(page.locator("#call-summary .badge")).to_have_text("Completed", timeout=LIVE)
    expect(page.locator("#timeline .sentence").filter(has_text="Hung up")).to_have_count(
        1, timeout=LIVE
    )
    assert any(call_id in m["data"] for m in messages(page)[count:])
    expect(strip_entry(page, call_id)).to_have_count(0, timeout=LIVE)
    page.wait_for_load_state("networkidle")

    assert not watch.csp_problems(), "\n".join(watch.csp_problems())
    assert not watch.errors, watch.errors
    assert not watch.failed, watch.failed
    errors = [m for m in watch.console if m.startswith("error")]
    assert not errors, errors

    # The watch does see a violation on this server too: an inline script is refused.
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.head.append(script);
    }"""
    )
    assert wait_for(page, lambda: watch.violations, timeout=5)
    assert page.evaluate("window.inlineRan") is None
    assert [v["directive"] for v in watch.violations] == ["script-src-elem"], watch.violations

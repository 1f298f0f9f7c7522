"""README command 1 (`bin/up`) end to end: the whole stack starts, syncs, serves, stops."""

import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from dashboard.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stack(tmp_path):
    ports = {
        "WEB_PORT": free_port(),
        "SIMULATOR_PORT": free_port(),
        "EMBEDDED_REDIS_PORT": free_port(),
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CATAPULT_", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS"))
    }
    env.update({k: str(v) for k, v in ports.items()})
    env.update(
        {"STATE_DIR": str(tmp_path), "SYNC_INTERVAL_SECONDS": "3", "SIMULATOR_PRELOAD": "50"}
    )
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "up")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    yield proc, lines, ports, tmp_path
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    return None


def _synced(db: Path):
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            calls = conn.execute("select count(*) from calls_call").fetchone()[0]
            events = conn.execute("select count(*) from calls_callevent").fetchone()[0]
    except sqlite3.OperationalError:
        return None
    return (calls, events) if calls and events else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not reaped it yet.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_bin_up_runs_the_whole_stack_and_ctrl_c_stops_it(stack):
    proc, lines, ports, state = stack
    started = time.monotonic()
    login = _wait(lambda: next((ln for ln in lines if "Log in as" in ln), None), 120)
    assert login, "".join(lines[-40:])
    ready = time.monotonic()
    synced = _wait(lambda: _synced(state / "db.sqlite3"), 60)
    assert synced, "".join(lines[-40:])
    synced_after = time.monotonic() - ready
    print(f"stack ready in {ready - started:.1f} s; {synced} synced {synced_after:.1f} s later")

    username, password = re.search(r"Log in as '(\S+)' with password '(\S+)'", login).groups()
    web = f"http://127.0.0.1:{ports['WEB_PORT']}"
    session = requests.Session()
    page = session.get(f"{web}/login/", timeout=10)
    token = session.cookies["csrftoken"]
    response = session.post(
        f"{web}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": page.url},
        timeout=10,
    )
    assert response.status_code == 200 and "calls-table" in response.text
    assert 'data-call-id="c-' in response.text
    assert "demo-secret" not in response.text

    pids = [int(p) for p in re.findall(r"started \w+ \(pid (\d+)\)", "".join(lines))]
    assert len(pids) == 5  # redis, simulator, web, worker, beat
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert not [pid for pid in pids if _pid_alive(pid)]
    output = "".join(lines)
    # The web server is up before the simulator sends its first callbacks.
    assert "not delivered" not in output, output[-3000:]
    # Stopped one by one: the worker never outlived Redis (its budget and its lock).
    assert "Rate limiter unavailable" not in output and "sync lock" not in output
    # One line per cycle: the worker does not repeat what the cycle logged.
    assert "succeeded in" not in output

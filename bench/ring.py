"""Benchmark: ring to row on screen, as an operator sees it, at Catapult's real limits.

The whole stack as `bin/up` runs it (the simulator at 1 request/s per family, the
dashboard's budget at 1/s, callbacks on, live traffic), a real Chromium with the calls
page open, and inbound calls that ring one after another: the time from the call being
created in the simulator to its row, and its entry in the ringing strip, being visible.

    .venv/bin/python bench/ring.py [--calls 20] [--traffic 30] [--gap 2]

Prints figures; asserts nothing. Needs Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from base64 import b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.budget import Stack, _free_ports  # noqa: E402 - needs ROOT on the path

TARGET_P95 = 1.0


def _ring(stack: Stack) -> str:
    """A ringing inbound call in the simulator (control API: not rate limited)."""
    request = urllib.request.Request(
        f"{stack.sim_base}/_sim/inbound-calls",
        data=json.dumps({"autoAnswer": False}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + b64encode(b"demo-token:demo-secret").decode(),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback
        return reply.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="ringing calls timed")
    parser.add_argument("--traffic", type=int, default=30, help="background calls/min")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between two rings")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="ring-bench-"))
    web, sim, redis = _free_ports(3)
    stack = Stack(workdir, web, sim, redis)
    env = stack.env(args.traffic, callbacks=True, preload=50)
    print(f"[ring] stack at Catapult's limits, {args.traffic} calls/min of traffic", flush=True)
    stack.start(env)
    rows, strip, rung = [], [], {}
    try:
        password = (workdir / "demo-password").read_text().strip()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox"]
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{web}/login/")
            page.fill("#id_username", "operator")
            page.fill("#id_password", password)
            page.click("button[type=submit]")
            page.wait_for_selector("#calls-table")
            page.wait_for_selector("body[data-stream=open]", timeout=30_000)
            time.sleep(5)  # the first sync's burst is over
            for _ in range(args.calls):
                started = time.perf_counter()
                wall = time.time()
                call_id = _ring(stack)
                rung[call_id] = wall
                page.wait_for_selector(f'#calls-table [data-call-id="{call_id}"]', timeout=30_000)
                rows.append(time.perf_counter() - started)
                page.wait_for_selector(f'#ringing [data-ringing-id="{call_id}"]', timeout=30_000)
                strip.append(time.perf_counter() - started)
                time.sleep(args.gap)
            browser.close()
    finally:
        leftovers = stack.stop()
    for name, values in (("row in the calls table", rows), ("entry in the ringing strip", strip)):
        p50, p95 = _percentile(values, 0.5), _percentile(values, 0.95)
        verdict = "pass" if p95 <= TARGET_P95 else "MISS"
        print(
            f"  ring -> {name}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms over {len(values)} calls "
            f"(target p95 <= {TARGET_P95:g} s: {verdict})"
        )
    received = _callback_times(stack, rung)
    if received:
        p50, p95 = _percentile(received, 0.5), _percentile(received, 0.95)
        print(
            f"    of which ring -> callback stored by the dashboard: p50 {p50 * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms"
        )
    if leftovers:
        print(f"  killed leftover processes: {leftovers}")


def _callback_times(stack: Stack, rung: dict[str, float]) -> list[float]:
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(stack.database) as db:
        rows = db.execute(
            "SELECT call_catapult_id, MIN(received_at) FROM calls_callbackevent "
            "WHERE event_type = 'incomingcall' GROUP BY call_catapult_id"
        ).fetchall()
    times = []
    for call_id, received in rows:
        if call_id in rung and received:
            moment = datetime.fromisoformat(received.replace(" ", "T"))
            if moment.tzinfo is None:
                from datetime import UTC

                moment = moment.replace(tzinfo=UTC)
            times.append(moment.timestamp() - rung[call_id])
    return times


if __name__ == "__main__":
    main()

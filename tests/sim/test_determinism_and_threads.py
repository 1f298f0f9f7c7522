"""Same seed, same data; concurrent clients; preload speed; the command line."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from catapult_sim import ManualClock, Simulator
from catapult_sim.testing import running_simulator

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def simulated_hour(seed: int) -> tuple[list[dict], list[list[dict]]]:
    with running_simulator(seed=seed, clock=ManualClock(start=START)) as sim:
        sim.preload(200, span=timedelta(days=1), live=5)
        sim.start_traffic(calls_per_minute=20)
        sim.advance(3600)
        auth = (sim.api_token, sim.api_secret)
        calls = requests.get(f"{sim.api_base}/calls?size=1000", auth=auth, timeout=10).json()
        events = [requests.get(c["events"], auth=auth, timeout=10).json() for c in calls[:40]]
        # Compare without the port, which differs between the two servers.
        strip = sim.base_url
        calls = [{k: str(v).replace(strip, "") for k, v in c.items()} for c in calls]
        return calls, events


def test_same_seed_same_data_over_http():
    first = simulated_hour(seed=11)
    assert first == simulated_hour(seed=11)
    calls, _ = first
    assert len(calls) > 300
    assert first != simulated_hour(seed=12)


def test_traffic_mix_is_realistic():
    sim = Simulator(seed=3, clock=ManualClock(start=START))
    sim.start_traffic(calls_per_minute=60)
    sim.advance(2 * 3600)
    sim.stop_traffic()
    sim.advance(900)
    calls = sim.calls_snapshot()
    directions = Counter(c["direction"] for c in calls)
    assert directions["in"] > 0.3 * len(calls) and directions["out"] > 0.3 * len(calls)
    hangups = Counter()
    for call in calls:
        for event in sim.events_snapshot(call["id"]):
            if event["name"] == "hangup":
                hangups[event["data"]] += 1
    assert hangups.most_common(1)[0][0] == "NORMAL_CLEARING"
    for cause in ("USER_BUSY", "NO_ANSWER", "CALL_REJECTED", "ORIGINATOR_CANCEL"):
        assert hangups[cause] > 0, cause
    assert any(c["state"] == "error" for c in calls)
    assert any(c.get("tag") for c in calls) and any(c.get("sipHeaders") for c in calls)
    numbers = Counter(c["from"] for c in calls if c["direction"] == "in")
    assert numbers.most_common(1)[0][1] >= 10  # frequent callers recur
    recorded = [c for c in calls if sim.recordings_snapshot(c["id"])]
    assert 0.05 * len(calls) < len(recorded) < 0.3 * len(calls)
    durations = [
        datetime.fromisoformat(c["endTime"]) - datetime.fromisoformat(c["activeTime"])
        for c in calls
        if "activeTime" in c
    ]
    assert min(durations) < timedelta(seconds=30) and max(durations) > timedelta(minutes=2)


def test_preload_of_100k_calls():
    sim = Simulator(seed=5)
    started = time.perf_counter()
    ids = sim.preload(100_000, live=10)
    elapsed = time.perf_counter() - started
    print(f"\npreload of 100,000 calls (+10 live): {elapsed:.2f} s")
    assert len(ids) == len(set(ids)) == 100_010
    states = Counter(c["state"] for c in sim.calls_snapshot())
    assert states["active"] + states["started"] == 10
    oldest = min(sim.store.calls.values(), key=lambda c: c.start_ms)
    assert sim.clock.now_ms() - oldest.start_ms <= 7 * 86_400_000 + 600_000


def test_concurrent_clients_see_consistent_state(sim):
    auth = (sim.api_token, sim.api_secret)
    sim.start_traffic(calls_per_minute=600)
    body = {"from": sim.account_numbers[0], "to": "+12125550150"}

    def client(worker: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            session.auth = auth
            for _ in range(15):
                created = session.post(f"{sim.api_base}/calls", json=body, timeout=10)
                statuses.append(created.status_code)
                location = created.headers["Location"]
                statuses.append(session.get(location, timeout=10).status_code)
                hung = session.post(location, json={"state": "completed"}, timeout=10)
                statuses.append(hung.status_code)
                statuses.append(session.get(f"{sim.api_base}/calls", timeout=10).status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [s for batch in pool.map(client, range(8)) for s in batch]
    assert Counter(results) == Counter({201: 120, 200: 360})
    created = [c for c in sim.calls_snapshot() if c["to"] == "+12125550150"]
    assert len(created) == 120 and all(c["state"] == "completed" for c in created)
    assert sim.stats()["by_route"]["POST /calls"] == 120


def test_command_line_serves_and_stops_on_sigterm():
    env = {
        **os.environ,
        "CATAPULT_SIM_PORT": "0",
        "CATAPULT_SIM_PRELOAD": "20",
        "CATAPULT_SIM_API_SECRET": "cli-secret-value",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "catapult_sim", "--calls-per-minute", "30", "--seed", "9"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Catapult simulator listening on http://127.0.0.1:")
        base = line.split()[4]
        response = requests.get(
            f"{base}/v1/users/u-demo/calls", auth=("demo-token", "cli-secret-value"), timeout=5
        )
        assert response.status_code == 200 and len(response.json()) == 25
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "cli-secret-value" not in line + output
    finally:
        if process.poll() is None:
            process.kill()

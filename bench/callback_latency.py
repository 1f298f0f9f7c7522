"""Benchmark: how fast the callback endpoint answers, and how soon the change shows.

1. Server time of POST /callbacks/catapult/ (authenticate, store, apply), in-process.
2. End to end: the simulator hangs a call up and POSTs its callback to a real web server,
   which applies it at once; we time until the database shows it completed.

    .venv/bin/python bench/callback_latency.py [--requests 200] [--calls 20]

Uses a fresh SQLite file (or DATABASE_URL), REDIS_URL or a private redis-server, and the
simulator in this process. Prints figures; asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import prepare  # noqa: E402 - needs ROOT on the path
from dashboard.embedded_redis import free_port, wait_for_port  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()

    os.environ["CALLBACK_PASSWORD"] = "bench-callback-pass"
    _, redis_server = prepare("callback-bench-")
    from django.conf import settings
    from django.test import Client

    from calls import sync
    from calls.catapult import CatapultClient
    from calls.models import Call
    from catapult_sim.testing import running_simulator

    children = []
    with running_simulator(
        user_id="u-demo", api_token="demo-token", api_secret="demo-secret", seed=5
    ) as sim:
        settings.CATAPULT_BASE_URL = sim.base_url
        env = {**os.environ, "CATAPULT_BASE_URL": sim.base_url}

        # 1. Server time of the endpoint alone.
        client = Client(HTTP_HOST="localhost")
        auth = {
            "HTTP_AUTHORIZATION": "Basic "
            + __import__("base64").b64encode(b"catapult:bench-callback-pass").decode()
        }
        times = []
        for i in range(args.requests):
            body = f'{{"eventType": "dtmf", "callId": "c-bench{i}", "dtmfDigit": "5"}}'
            started = time.perf_counter()
            response = client.post(
                "/callbacks/catapult/", body, content_type="application/json", **auth
            )
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code

        # 2. End to end through gunicorn and a Celery worker.
        port = free_port()
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "dashboard.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "dashboard",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    "2",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for_port(port, 30)
        time.sleep(3)  # the worker connects to the broker
        sim.incoming_call_url = (
            f"http://catapult:bench-callback-pass@127.0.0.1:{port}/callbacks/catapult/"
        )
        api = CatapultClient.from_settings()
        visible = []
        for _ in range(args.calls):
            call_id = sim.create_inbound_call(auto_answer=True)
            sync.refresh_call(api, call_id)
            started = time.perf_counter()
            sim.hangup(call_id)  # the simulator POSTs the hangup callback
            while Call.objects.get(catapult_id=call_id).state != "completed":
                if time.perf_counter() - started > 10:
                    break
                time.sleep(0.005)
            visible.append((time.perf_counter() - started) * 1000)

    for child in children:
        child.terminate()
        child.wait(10)
    if redis_server:
        redis_server.stop()
    print(
        f"endpoint server time   p50 {statistics.median(times):.1f} ms   "
        f"p95 {percentile(times, 0.95):.1f} ms   ({args.requests} POSTs, target p95 <= 100 ms)"
    )
    print(
        f"change visible after   p50 {statistics.median(visible):.0f} ms   "
        f"p95 {percentile(visible, 0.95):.0f} ms   max {max(visible):.0f} ms   "
        f"({args.calls} hangups, target < 1000 ms)"
    )


if __name__ == "__main__":
    main()

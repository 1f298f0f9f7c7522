"""node-bandwidth 4.0.0, the official Node SDK, used unchanged against the simulator."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from catapult_sim import ManualClock
from catapult_sim.testing import running_simulator

pytestmark = pytest.mark.node

NODE_DIR = Path(__file__).resolve().parent


def node_ready() -> None:
    """Skip (with the reason) unless node, npm and the pinned SDK are available."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed on PATH for the node-bandwidth conformance run")
    if (NODE_DIR / "node_modules" / "node-bandwidth").is_dir():
        return
    try:
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm ci in tests/node took longer than 5 minutes")
    if result.returncode != 0:
        pytest.skip(f"npm ci in tests/node failed: {result.stderr.strip()[-500:]}")


def test_node_bandwidth_drives_the_simulator():
    node_ready()
    with running_simulator(
        user_id="u-node", api_token="node-token", api_secret="node-secret", seed=4,
        clock=ManualClock(),
    ) as sim:  # fmt: skip
        sim.preload(30)
        inbound = sim.create_inbound_call(auto_answer=False)
        sim.faults.add("rate_limited", method="GET", path=r"/transcriptions$", delay=30)
        env = {
            **os.environ,
            "CATAPULT_BASE_URL": sim.base_url,
            "CATAPULT_USER_ID": sim.user_id,
            "CATAPULT_API_TOKEN": sim.api_token,
            "CATAPULT_API_SECRET": sim.api_secret,
            "INBOUND_CALL_ID": inbound,
            "CATAPULT_FROM_NUMBER": sim.account_numbers[0],
        }
        run = subprocess.run(
            ["node", "conformance.js"],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout.strip().splitlines()[-1])

        created_id = report["createdId"]
        assert created_id.startswith("c-")
        assert report["created"]["id"] == created_id
        assert report["created"]["state"] == "started"
        assert report["created"]["tag"] == "node-conformance"
        assert created_id in report["listedIds"] and len(report["listedIds"]) == 10
        assert report["eventNames"] == ["create"]
        assert isinstance(report["event"]["time"], int) and report["event"]["name"] == "create"
        assert report["answeredState"] == "active"
        assert len(report["recordings"]) == 1
        assert report["recordings"][0]["state"] == "saving"
        assert report["gatherId"].startswith("gtr-")
        assert report["gather"]["state"] == "started"
        limited = report["rateLimited"]
        assert limited["name"] == "RateLimitError" and limited["statusCode"] == 429
        wait_ms = int(limited["limitReset"]) - time.time() * 1000  # a wall-clock instant
        assert 20_000 < wait_ms <= 30_000
        assert report["transferId"].startswith("c-")
        second = report["secondHangup"]
        assert second["name"] == "UnexpectedResponseError" and second["statusCode"] == 403
        assert second["message"] == (
            f"Unable to update call {inbound}. "
            "You can`t update the call`s state after being set to COMPLETED"
        )
        assert report["createdFinalState"] == "completed"
        assert report["missingCall"]["statusCode"] == 404
        assert report["missingCall"]["message"] == "The call c-doesnotexist could not be found"

        # What the simulator saw and holds afterwards.
        sim.advance(5)
        assert sim.call_snapshot(inbound)["state"] == "completed"
        assert sim.call_snapshot(report["transferId"])["state"] == "completed"
        assert sim.events_snapshot(report["transferId"])[-1]["data"] == "ORIGINATOR_CANCEL"
        assert sim.events_snapshot(created_id)[-1]["data"] == "ORIGINATOR_CANCEL"
        (recording,) = sim.recordings_snapshot(inbound)
        assert recording["state"] == "complete"
        gather_events = [e for e in sim.events_snapshot(inbound) if e["name"] == "gather"]
        assert [e["data"] for e in gather_events] == ["started", "completed"]
        stats = sim.stats()
        routes = stats["by_route"]
        assert routes["POST /calls"] == 1
        assert routes["GET /calls"] == 1
        assert routes["GET /calls/{id}/events/{id}"] == 1
        assert routes["POST /calls/{id}/gather"] == 1
        # answer, recording on, recording off, transfer, hangup twice, hangup of the new call
        assert routes["POST /calls/{id}"] == 7
        assert stats["by_status"][429] == 1 and stats["by_status"][403] == 1
        assert stats["by_status"][404] == 1
        assert 204 not in stats["by_status"]

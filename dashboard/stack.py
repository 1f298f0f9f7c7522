"""Run the whole stack in the foreground: what `bin/up` ends in.

Starts, in order: embedded Redis (when REDIS_URL is unset), web (gunicorn), the Catapult
simulator (when no CATAPULT_* account is configured), Celery worker and Celery beat.
Their output is interleaved with a name prefix. Ctrl-C or SIGTERM stops every process it
started; if one of them dies, the rest are stopped too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from calls.callbacks import own_callback_url
from dashboard.embedded_redis import EmbeddedRedis, port_open, wait_for_port

DEMO_USERNAME = "operator"


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor itself is killed, so nothing is orphaned."""
    with contextlib.suppress(OSError):  # not Linux: no such safety net, nothing else changes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setsid()  # Ctrl-C reaches the supervisor only; it stops the children in order


@dataclass
class Child:
    name: str
    argv: list[str]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False)  # added to ours
    process: subprocess.Popen | None = field(default=None, repr=False)


class Stack:
    def __init__(self, web_port: int, out=sys.stdout):
        self.web_port = web_port
        self.out = out
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.write_lock = threading.Lock()

    def say(self, name: str, line: str) -> None:
        with self.write_lock:
            self.out.write(f"{name:<9}| {line.rstrip()}\n")
            self.out.flush()

    def plan(self) -> list[Child]:
        python = sys.executable
        children = []
        if settings.REDIS_EMBEDDED:
            redis = EmbeddedRedis(settings.EMBEDDED_REDIS_PORT, settings.STATE_DIR / "redis")
            children.append(Child("redis", redis.command(), settings.EMBEDDED_REDIS_PORT))
        # An ASGI server: every open page holds a server-sent-events stream, which is a
        # waiting coroutine here, where a WSGI server would tie up a thread per page.
        uvicorn = {
            "host": "127.0.0.1",
            "port": self.web_port,
            "workers": 2,
            # Pages poll every 5 s: a keep-alive longer than that lets a browser reuse its
            # connection instead of racing the server's close.
            "timeout-keep-alive": 10,
            "timeout-graceful-shutdown": 5,  # open streams must not hold up Ctrl-C
        }
        celery = [python, "-m", "celery", "-A", "dashboard"]
        children.append(
            Child(
                "web",
                [python, "-m", "uvicorn", "dashboard.asgi:application"] + _flags(uvicorn),
                self.web_port,
            )
        )
        # After web: the simulator's first callbacks find the endpoint listening.
        if settings.CATAPULT_SIMULATOR:
            options = {
                "host": "127.0.0.1",
                "port": settings.SIMULATOR_PORT,
                "user-id": settings.CATAPULT_USER_ID,
                "api-token": settings.CATAPULT_API_TOKEN,
                "api-secret": settings.CATAPULT_API_SECRET,
                "calls-per-minute": settings.SIMULATOR_CALLS_PER_MINUTE,
                "preload": settings.SIMULATOR_PRELOAD,
                # Catapult's documented limits, so the demo shows what an account gets.
                "rate-limit": settings.SIMULATOR_RATE_LIMIT,
            }
            argv = [python, "-m", "catapult_sim"] + _flags(options)
            # Callbacks make the demo real-time. The URL carries a password, so it goes in
            # the environment, not argv, where the process list would show it.
            env = {}
            if settings.SIMULATOR_CALLBACKS:
                env["CATAPULT_SIM_INCOMING_CALL_URL"] = own_callback_url()
            children.append(Child("simulator", argv, settings.SIMULATOR_PORT, env))
        children += [
            Child("worker", celery + ["worker"] + _flags({"loglevel": "INFO", "concurrency": 2})),
            Child(
                "beat",
                celery
                + ["beat"]
                + _flags({"loglevel": "INFO", "schedule": settings.CELERY_BEAT_SCHEDULE_FILENAME}),
            ),
        ]
        return children

    def run(self) -> int:
        self.children = self.plan()
        busy = [c for c in self.children if c.port and port_open(c.port)]
        if busy:
            ports = ", ".join(f"{c.port} ({c.name})" for c in busy)
            self.say("stack", f"Port already in use: {ports}. Is another stack running?")
            return 1
        (settings.STATE_DIR / "redis").mkdir(parents=True, exist_ok=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
            for child in self.children:
                if self.stopping.is_set() or not self.start(child):
                    return 1
            login = ensure_demo_login()
            self.enqueue_first_sync()
            self.say("stack", f"Dashboard: http://127.0.0.1:{self.web_port}/")
            if login:
                self.say("stack", f"Log in as '{login[0]}' with password '{login[1]}'")
            if settings.CATAPULT_SIMULATOR:
                self.say("stack", f"Catapult simulator: {settings.CATAPULT_BASE_URL}")
            self.say("stack", "Press Ctrl-C to stop everything.")
            return self.supervise()
        finally:
            self.stop_all()

    def start(self, child: Child) -> bool:
        child.process = subprocess.Popen(
            child.argv,
            env={**os.environ, **child.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads touch the child side
        )
        threading.Thread(target=self.pump, args=(child,), daemon=True).start()
        if child.port and not wait_for_port(child.port, 30, process=child.process):
            self.say("stack", f"{child.name} did not start listening on port {child.port}")
            return False
        self.say("stack", f"started {child.name} (pid {child.process.pid})")
        return True

    def pump(self, child: Child) -> None:
        for line in child.process.stdout:
            self.say(child.name, line)

    def supervise(self) -> int:
        while not self.stopping.wait(0.5):
            for child in self.children:
                if child.process.poll() is not None:
                    self.say("stack", f"{child.name} exited with code {child.process.returncode}")
                    return 1
        self.say("stack", "Stopping…")
        return 0

    def stop_all(self) -> None:
        """Stop in reverse order, each before the next: the worker finishes its cycle while
        Redis (its lock and the shared request budget) is still there."""
        deadline = time.monotonic() + 20
        for child in reversed(self.children):
            if not child.process or child.process.poll() is not None:
                continue
            child.process.terminate()
            try:
                child.process.wait(max(0.5, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("stack", f"{child.name} did not stop in time; killing it")
                child.process.kill()
                child.process.wait()

    def enqueue_first_sync(self) -> None:
        """Sync at once instead of waiting a whole beat interval for the first cycle."""
        from calls.tasks import sync_calls

        sync_calls.apply_async(expires=settings.SYNC_INTERVAL_SECONDS * 3)


def _flags(options: dict) -> list[str]:
    return [part for name, value in options.items() for part in (f"--{name}", str(value))]


def ensure_demo_login() -> tuple[str, str] | None:
    """An operator login for the demo, password kept in .state/ so it survives restarts.

    Only in simulator mode: against a real account, users are created deliberately.
    """
    if not settings.CATAPULT_SIMULATOR:
        return None
    from django.contrib.auth import get_user_model

    from calls.roles import OPERATOR, assign_role

    path = settings.STATE_DIR / "demo-password"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(9))
    password = path.read_text().strip()
    user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
    if not user.check_password(password):
        user.set_password(password)
    assign_role(user, OPERATOR)
    return DEMO_USERNAME, password

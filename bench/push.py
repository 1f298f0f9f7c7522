"""Benchmark: pushed changes. Callback received to event delivered, memory per stream, idle.

    .venv/bin/python bench/push.py                       # 50 streams, 60 s at 60 calls/min,
                                                         # then 1,000 idle streams
    .venv/bin/python bench/push.py --streams 5 --seconds 15 --idle-streams 100   # quick
    .venv/bin/python bench/push.py --scale 0.1           # the same, at 10 % of the sizes

What runs: one uvicorn worker process (`dashboard.asgi`, as bin/up runs the web, but one
worker so its RSS is the whole server), the Catapult simulator in this process on the real
clock ringing calls with callbacks pointed at that server, and the "browsers" in a process
of their own (bench/push_client.py: raw HTTP/1.1 SSE clients on asyncio, logged in with a
session cookie, each opening /stream/?from=<position> as a page does and reconnecting as
EventSource does, with Last-Event-ID, when the server ends a stream). No Celery worker:
callbacks alone change calls here, each announced on the Redis Stream as it is applied.

1. Latency: --streams clients hold /stream/ while the simulator makes --calls-per-minute
   calls for --seconds. For every callback the server received in that window (its
   `received_at` in calls_callbackevent) and the Stream message it caused (the latest
   callback for that call received before the message's Stream id), each client's arrival
   time of that message: delivered - received, over all clients. Also split at the Stream
   (received -> on the Stream -> delivered). One machine: the clocks agree.
2. Memory per open stream: the worker's RSS with no stream and with --streams, after a
   warm-up (a first stream and a first callback load code that any stream would).
3. Idle: --idle-streams clients connect (every one must get its `retry:` line) and are held
   past one heartbeat (15 s of quiet: the session check each stream then makes) with no
   callbacks; none may be ended by the server. The worker's RSS, threads, file descriptors
   and what they are; and while they are held, a new stream must still get a freshly
   published message promptly (--probes messages, one a second, with calls.push.publish).

SQLite in a fresh state folder, or PostgreSQL with --pg-url (call tables emptied). Redis:
a private embedded redis-server unless --redis-url (use a database of its own: everything
on it that publishes to `calls:changes` reaches the clients, and the probes reach its
pages). Prints a table and one verdict per target; asserts nothing, exit status 0 even
when a target is missed. Every process it starts is stopped, on Ctrl-C too.

To run it from bench/run.py: Django set up and DATABASE_URL/REDIS_URL in os.environ, call
part_push(Options(...), workdir, record).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import ctypes
import json
import math
import os
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import empty_tables, ensure_postgres_database, prepare  # noqa: E402

PART = "push"
CLIENT = Path(__file__).resolve().with_name("push_client.py")
TARGET_P95_MS = 250.0
HEARTBEAT_SECONDS = 15  # calls.stream's, for --help; the part reads the real one
RESULTS: list[tuple[str, str, str, str]] = []  # (part, figure, value, target / verdict)


@dataclass
class Options:
    streams: int = 50
    seconds: float = 60.0
    calls_per_minute: float = 60.0
    idle_streams: int = 1000
    idle_hold: float = 20.0  # past one heartbeat
    probes: int = 5
    drain: float = 3.0  # after the window: its last messages still reach the clients
    connect_concurrency: int = 100
    seed: int = 1


# --- output -------------------------------------------------------------------------------


def record(part: str, figure: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("pass" if ok else "MISS")
    RESULTS.append((part, figure, value, f"{target} {verdict}".strip()))
    print(f"  {figure}: {value} {target} {verdict}", flush=True)


def print_table() -> None:
    header = ("part", "figure", "value", "target")
    widths = [max(len(r[i]) for r in [*RESULTS, header]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in RESULTS:
        print(line.format(*row))
    verdicts = [r for r in RESULTS if r[3].endswith(("pass", "MISS"))]
    if verdicts:
        print()
        for _part, figure, value, target in verdicts:
            word = "PASS" if target.endswith("pass") else "MISS"
            print(f"{word}  {figure}: {value} (target {target.rsplit(' ', 1)[0]})")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def spread(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    return (
        f"p50 {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms, "
        f"max {max(samples):.1f} ms"
    )


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


# --- processes ----------------------------------------------------------------------------

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before any fork
except (OSError, AttributeError):
    _prctl = None


def _child_setup() -> None:
    """In the child, before exec: SIGTERM when this benchmark dies, however it dies."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 25) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _stop(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Server:
    """uvicorn with ONE worker: `--workers 1` serves in the process it starts, no supervisor."""

    def __init__(self, workdir: Path, env: dict, port: int) -> None:
        from urllib.parse import urlsplit

        self.workdir, self.env, self.port = workdir, env, port
        self.redis_port = urlsplit(env["REDIS_URL"]).port or 6379
        database = urlsplit(env["DATABASE_URL"])
        self.pg_port = (database.port or 5432) if database.scheme.startswith("postgres") else -1
        self.log = workdir / "uvicorn.log"
        self.process: subprocess.Popen | None = None
        self._ps = None

    def start(self, timeout: float = 60.0) -> None:
        import psutil

        argv = [sys.executable, "-m", "uvicorn", "dashboard.asgi:application"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        argv += ["--timeout-keep-alive", "10", "--timeout-graceful-shutdown", "5"]
        argv += ["--log-level", "warning", "--no-access-log"]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C here is ours to handle, in order
                preexec_fn=_child_setup,  # noqa: PLW1509 - prctl only, loaded before fork
            )
        self._ps = psutil.Process(self.process.pid)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            url = f"http://127.0.0.1:{self.port}/login/"
            with contextlib.suppress(OSError), opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not answer in {timeout:.0f} s:\n{_tail(self.log)}")
            time.sleep(0.2)

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {self.process.returncode}:\n{_tail(self.log)}")

    def usage(self) -> dict:
        """RSS (bytes), threads and file descriptors of the server, children included; what
        its TCP connections go to (clients, Redis, PostgreSQL) and its open SQLite files."""
        self.check()
        processes = [self._ps, *self._ps.children(recursive=True)]
        peers = {"clients": 0, "redis": 0, "postgresql": 0, "other": 0}
        sqlite_files = 0
        for p in processes:
            for conn in p.net_connections(kind="tcp"):
                if conn.laddr and conn.laddr.port == self.port and conn.raddr:
                    peers["clients"] += 1
                elif conn.raddr and conn.raddr.port == self.redis_port:
                    peers["redis"] += 1
                elif conn.raddr and conn.raddr.port == self.pg_port:
                    peers["postgresql"] += 1
                elif conn.raddr:
                    peers["other"] += 1
            sqlite_files += sum(".sqlite3" in f.path for f in p.open_files())
        return {
            "rss": sum(p.memory_info().rss for p in processes),
            "threads": sum(p.num_threads() for p in processes),
            "fds": sum(p.num_fds() for p in processes),
            "processes": len(processes),
            "sqlite_files": sqlite_files,
            **peers,
        }

    def cpu_seconds(self) -> float:
        times = self._ps.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        _stop(self.process)


class Clients:
    """A bench/push_client.py process holding `streams` SSE streams."""

    def __init__(
        self, workdir: Path, port: int, cookie: str, streams: int, name: str, opts, path: str
    ):
        self.name = name
        self.result = workdir / f"{name}.json"
        self.log = workdir / f"{name}.log"
        self.lines: queue.Queue[dict] = queue.Queue()
        argv = [sys.executable, str(CLIENT), "--port", str(port), "--streams", str(streams)]
        argv += ["--result", str(self.result), "--concurrency", str(opts.connect_concurrency)]
        argv += ["--path", path]
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, "PUSH_BENCH_COOKIE": cookie},  # off the process list
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=_child_setup,  # noqa: PLW1509 - prctl only, loaded before fork
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.lines.put(json.loads(line))

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the {self.name} clients exited with {self.process.returncode}:\n{_tail(self.log)}"
            )

    def expect(self, key: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.lines.get(timeout=0.2)
            except queue.Empty:
                self.check()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {self.name} clients did not say {key!r}") from None
                continue
            if key in message:
                return message

    def send(self, command: str) -> None:
        self.check()
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 60.0) -> list[dict]:
        self.send("stop")
        self.expect("done", timeout)
        self.process.wait(timeout)
        return json.loads(self.result.read_text())["streams"]

    def stop(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the client stops when its stdin closes
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        _stop(self.process)


# --- set-up -------------------------------------------------------------------------------


def session_cookie(username: str = "push-bench-viewer") -> str:
    """A viewer's session, created as a login would (the same SECRET_KEY and database as
    the server): the sessionid cookie's value."""
    from django.contrib.auth.models import User
    from django.test import Client

    from calls.roles import VIEWER, assign_role

    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username, password=None)
        assign_role(user, VIEWER)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client.cookies["sessionid"].value


def server_env(password: str, sim_base_url: str) -> dict:
    from django.conf import settings

    foreign = ("CATAPULT_", "CALLBACK_", "SIMULATOR_", "DATABASE_URL", "REDIS_URL", "STATE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(foreign)}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        STATE_DIR=str(settings.STATE_DIR),
        SECRET_KEY=settings.SECRET_KEY,  # the session was signed here
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=settings.REDIS_URL,
        LOG_LEVEL="WARNING",
        # Demo mode (no CATAPULT_USER_ID/TOKEN/SECRET): u-demo / demo-token / demo-secret,
        # the simulator's defaults. Nothing calls the API here: no worker, no sync.
        CATAPULT_BASE_URL=sim_base_url,
        CATAPULT_RATE_LIMIT="0",
        CALLBACK_PASSWORD=password,
        PYTHONUNBUFFERED="1",
    )
    return env


def redis_connections() -> int | None:
    from calls.locks import redis_client

    with contextlib.suppress(Exception):
        return int(redis_client().info("clients")["connected_clients"])
    return None


# --- analysis -----------------------------------------------------------------------------


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def window_messages(t0: float, t1: float, until: float) -> tuple[list[tuple], int, int]:
    """The Stream messages caused by callbacks received in [t0, t1]:
    [(message id, received_at, on-the-Stream time)], callbacks in the window, and those of
    them that announced nothing (a duplicate delivery, or a callback naming no call)."""
    from calls import push
    from calls.locks import redis_client
    from calls.models import CallbackEvent

    start, end = datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(until, UTC)
    received: dict[str, list[float]] = {}
    in_window = 0
    for call_id, moment in (
        CallbackEvent.objects.filter(received_at__gte=start, received_at__lte=end)
        .order_by("received_at")
        .values_list("call_catapult_id", "received_at")
    ):
        received.setdefault(call_id, []).append(_epoch(moment))
        in_window += _epoch(moment) <= t1
    entries = redis_client().xrange(push.STREAM, min=str(int(t0 * 1000)), max="+")
    messages, caused = [], set()
    for entry_id, fields in entries:
        message = push.message(entry_id, fields)
        stream_at = int(message["id"].split("-")[0]) / 1000
        for call_id in message["calls"]:
            times = received.get(call_id, [])
            # Callbacks of one call come one after another (the next is sent once the
            # previous one is answered, and the answer follows the publish): the latest
            # received before the message is its cause. +1 ms: Stream ids are whole ms.
            i = bisect.bisect_right(times, stream_at + 0.001) - 1
            if i >= 0 and t0 <= times[i] <= t1 and (call_id, i) not in caused:
                caused.add((call_id, i))
                messages.append((message["id"], times[i], stream_at))
    return messages, in_window, in_window - len(caused)


def _arrivals(stream: dict) -> dict[str, float]:
    """Event id -> when it first arrived (a replay after a reconnection comes again)."""
    first: dict[str, float] = {}
    for entry_id, moment, _calls, name in stream["events"]:
        if name == "change":
            first.setdefault(entry_id, moment)
    return first


def _ends(streams: list[dict], start: float, end: float) -> tuple[int, int, list[str]]:
    """(ends, streams that ended, why) of the ends in [start, end] the server caused."""
    ends = [(s["label"], why) for s in streams for at, why in s["ends"] if start <= at <= end]
    return len(ends), len({label for label, _ in ends}), sorted({why for _, why in ends})


def _connections(u: dict) -> str:
    text = f"{u['clients']} client, {u['redis']} Redis"
    if u["postgresql"]:
        text += f", {u['postgresql']} PostgreSQL"
    return text + f" connections, {u['sqlite_files']} open SQLite files"


# --- the part -----------------------------------------------------------------------------


def part_push(opts: Options, workdir: Path, record=record) -> None:
    from calls.stream import current_position
    from catapult_sim.testing import running_simulator
    from dashboard.embedded_redis import free_port

    print(
        f"\n[push] {opts.streams} streams, {opts.calls_per_minute:g} calls/min for "
        f"{opts.seconds:g} s; then {opts.idle_streams:,} idle streams, one uvicorn worker",
        flush=True,
    )
    password = secrets.token_urlsafe(18)
    cookie = session_cookie()
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(running_simulator(seed=opts.seed))  # demo credentials
        server = Server(workdir, server_env(password, sim.base_url), free_port())
        stack.callback(server.stop)
        server.start()

        def quiet_simulator() -> None:  # before the server stops: no failed deliveries
            sim.stop_traffic()
            sim.incoming_call_url = None

        stack.callback(quiet_simulator)
        sim.incoming_call_url = (
            f"http://catapult:{password}@127.0.0.1:{server.port}/callbacks/catapult/"
        )

        def clients(n: int, name: str) -> Clients:
            # As a page opens it: from the Stream position it was rendered at, which the
            # stream replays from (and EventSource reconnects to) until an event names one.
            path = f"/stream/?from={current_position()}"
            c = Clients(workdir, server.port, cookie, n, name, opts, path)
            stack.callback(c.stop)
            return c

        _warm_up(sim, server, clients)
        _latency(opts, sim, server, clients, record)
        _idle(opts, sim, server, clients, record)


def _warm_up(sim, server: Server, clients) -> None:
    """A first stream, a first published message and a first callback load what every
    later one uses (redis.asyncio, the callback path): not a per-stream cost."""
    from calls import push

    warm = clients(2, "warmup")
    ready = warm.expect("ready", 60)
    if ready["failed"]:
        raise RuntimeError(f"warm-up streams failed: {ready['errors']}")
    time.sleep(0.5)
    push.publish("call", {"c-pushbench-warmup": "active"})
    call_id = sim.create_inbound_call(auto_answer=True)
    time.sleep(0.5)
    sim.hangup(call_id)
    sim.wait_for_callbacks(10)
    time.sleep(0.5)
    streams = warm.finish()
    got = [len(_arrivals(s)) for s in streams]
    if min(got) == 0:
        raise RuntimeError(
            "the warm-up streams got no event: nothing is pushed"
            f" (callbacks: {sim.callback_deliveries[-3:]})"
        )
    time.sleep(1.0)


def _latency(opts: Options, sim, server: Server, clients, record) -> None:
    before = server.usage()
    c = clients(opts.streams, "latency")
    ready = c.expect("ready", 60 + opts.streams / 10)
    record(
        PART,
        "streams connected (latency)",
        f"{ready['ready']} / {opts.streams} in {ready['seconds']:.2f} s"
        + (f"; failed: {'; '.join(ready['errors'])}" if ready["failed"] else ""),
        "all",
        ready["failed"] == 0,
    )
    time.sleep(1.0)  # every stream's first XREAD is waiting; memory settles
    held = server.usage()
    per_stream = (held["rss"] - before["rss"]) / max(1, ready["ready"])
    record(
        PART,
        "server RSS, no stream open",
        f"{mib(before['rss'])}; {before['threads']} threads, {before['fds']} fds",
    )
    record(
        PART,
        f"server RSS, {ready['ready']} streams open",
        f"{mib(held['rss'])}; {held['threads']} threads, {held['fds']} fds; {_connections(held)}",
    )
    record(PART, "memory per open stream", f"{per_stream / 1024:.0f} KiB (RSS delta / streams)")

    sim.callbacks.deliveries.clear()
    cpu0, t0 = server.cpu_seconds(), time.time()
    sim.start_traffic(calls_per_minute=opts.calls_per_minute)
    while time.time() < t0 + opts.seconds:
        server.check()
        c.check()
        time.sleep(0.25)
    t1 = time.time()
    sim.stop_traffic()  # calls under way go on; their later callbacks fall outside
    time.sleep(opts.drain)
    cpu = (server.cpu_seconds() - cpu0) / (time.time() - t0)
    streams = c.finish()
    deliveries = sim.callback_deliveries
    failed = [d for d in deliveries if not d.get("ok")]

    messages, callbacks, silent = window_messages(t0, t1, time.time())
    connected = [s for s in streams if s["connected_at"]]
    arrivals = [_arrivals(s) for s in connected]
    total, received_to_stream, stream_to_client, missed = [], [], [], 0
    for entry_id, received_at, stream_at in messages:
        received_to_stream.append((stream_at - received_at) * 1000)
        for got in arrivals:
            moment = got.get(entry_id)
            if moment is None:
                missed += 1
                continue
            total.append((moment - received_at) * 1000)
            stream_to_client.append((moment - stream_at) * 1000)
    window_ids = {m[0] for m in messages}
    counts = [len(window_ids & got.keys()) for got in arrivals]
    ends, ended, why = _ends(connected, t0, t1 + opts.drain)

    record(
        PART,
        "traffic",
        f"{opts.calls_per_minute:g} calls/min for {t1 - t0:.0f} s: {callbacks} callbacks "
        f"received, {len(messages)} announced ({silent} announced nothing), "
        f"{len(failed)} of {len(deliveries)} deliveries failed",
        "0 failed",
        not failed,
    )
    p95 = percentile(total, 0.95) if total else math.inf
    record(
        PART,
        "callback received -> event delivered",
        f"{spread(total)} ({len(total)} = {len(messages)} events x {len(connected)} streams)",
        f"p95 <= {TARGET_P95_MS:.0f} ms",
        p95 <= TARGET_P95_MS,
    )
    record(PART, "  received -> on the Stream (server)", spread(received_to_stream))
    record(PART, "  on the Stream -> delivered", spread(stream_to_client))
    record(
        PART,
        "server CPU during the traffic",
        f"{cpu * 100:.1f} % of a core (callbacks and {len(total):,} deliveries)",
    )
    record(
        PART,
        "events per stream",
        f"min {min(counts, default=0)}, max {max(counts, default=0)} of {len(messages)}; "
        f"{missed} missed",
        "0 missed",
        missed == 0 and bool(messages),
    )
    record(
        PART,
        "streams ended by the server during the traffic",
        f"{ends} ends on {ended} of {len(connected)} streams"
        + (f" ({'; '.join(why)}); each reconnected as EventSource does" if ends else ""),
        "0",
        ends == 0,
    )


def _idle(opts: Options, sim, server: Server, clients, record) -> None:
    from calls import push
    from calls.stream import HEARTBEAT_SECONDS

    n = opts.idle_streams
    sim.incoming_call_url = None  # idle: the calls still under way send no more callbacks
    time.sleep(1.0)  # the latency streams are gone
    before = server.usage()
    c = clients(n, "idle")
    ready = c.expect("ready", 120 + n / 10)
    record(
        PART,
        f"idle streams connected (got retry:), {opts.connect_concurrency} at a time",
        f"{ready['ready']:,} / {n:,} in {ready['seconds']:.1f} s"
        + (f"; failed: {'; '.join(ready['errors'])}" if ready["failed"] else ""),
        "all",
        ready["failed"] == 0,
    )
    held_since, wall_since = time.monotonic(), time.time()
    time.sleep(1.0)
    held = server.usage()
    per_stream = (held["rss"] - before["rss"]) / max(1, ready["ready"])
    record(
        PART,
        f"server RSS holding {ready['ready']:,} idle streams",
        f"{mib(held['rss'])} (before {mib(before['rss'])}: {per_stream / 1024:.0f} KiB per stream)",
    )
    record(
        PART,
        "  threads, file descriptors",
        f"threads {before['threads']} -> {held['threads']}, fds {before['fds']} -> "
        f"{held['fds']}: {_connections(held)}",
    )

    c.send("probe")
    if not c.expect("probe", 60)["probe"]:
        raise RuntimeError(f"the probe stream did not connect:\n{_tail(c.log)}")
    time.sleep(0.5)  # its first XREAD is waiting
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    published: list[tuple[str, float]] = []
    for k in range(opts.probes):
        probe_id = f"c-pushbench-probe-{k}"
        published.append((probe_id, time.time()))
        push.publish("call", {probe_id: "active"})
        time.sleep(1.0)
    # Past one heartbeat (due 15 s after the last message): each stream checks its session
    # then, and must stay open.
    until = max(held_since + opts.idle_hold, time.monotonic() - 1.0 + HEARTBEAT_SECONDS + 3)
    time.sleep(max(0.0, until - time.monotonic()))
    cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0)
    c.send("status")
    status = c.expect("status", 30)
    after = server.usage()
    hold = time.monotonic() - held_since
    streams = c.finish(120)

    def arrival(stream: dict, probe_id: str) -> float | None:
        return next((e[1] for e in stream["events"] if probe_id in e[2]), None)

    probes = [s for s in streams if s["label"].startswith("probe")]
    idle = [s for s in streams if not s["label"].startswith("probe") and s["connected_at"]]
    probe_ms, fanout_ms, reached = [], [], []
    for probe_id, at in published:
        for s in probes:
            moment = arrival(s, probe_id)
            if moment is not None:
                probe_ms.append((moment - at) * 1000)
        moments = [m for m in (arrival(s, probe_id) for s in idle) if m is not None]
        reached.append(len(moments))
        if moments:
            fanout_ms.append((max(moments) - at) * 1000)
    ends, ended, why = _ends(idle, wall_since, time.time())
    record(
        PART,
        f"idle streams held {hold:.0f} s (a heartbeat after {HEARTBEAT_SECONDS} s of quiet)",
        f"{ended:,} of {len(idle):,} ended by the server ({ends:,} ends"
        + (f": {'; '.join(why)}" if why else "")
        + f"), {status['live']:,} connected at the end, fewest heartbeats "
        f"{status['heartbeats_min']}",
        "no end, >= 1 heartbeat",
        ends == 0 and len(idle) == n and status["heartbeats_min"] >= 1,
    )
    record(
        PART,
        "server after the hold",
        f"RSS {mib(after['rss'])}, {after['threads']} threads, {after['fds']} fds: "
        f"{_connections(after)}; CPU {cpu * 100:.1f} % of a core while held",
    )
    prompt = len(probe_ms) == opts.probes and max(probe_ms, default=math.inf) <= TARGET_P95_MS
    record(
        PART,
        f"new stream's event while {n:,} are held",
        f"{', '.join(f'{ms:.0f}' for ms in probe_ms)} ms ({len(probe_ms)} of {opts.probes} "
        "messages, one a second)",
        f"max <= {TARGET_P95_MS:.0f} ms",
        prompt,
    )
    record(
        PART,
        f"  the same message to all {n:,} idle streams",
        f"last one after {', '.join(f'{ms:.0f}' for ms in fanout_ms)} ms; reached "
        f"{min(reached, default=0):,}-{max(reached, default=0):,} of {len(idle):,}",
    )


# --- standalone ---------------------------------------------------------------------------


def _options(args) -> Options:
    base = Options()
    scale = args.scale

    def scaled(given, default, least):
        return given if given is not None else max(least, type(default)(default * scale))

    return Options(
        streams=scaled(args.streams, base.streams, 2),
        seconds=scaled(args.seconds, base.seconds, 10.0),
        calls_per_minute=args.calls_per_minute,
        idle_streams=scaled(args.idle_streams, base.idle_streams, 10),
        idle_hold=args.idle_hold,
        probes=args.probes,
        connect_concurrency=args.connect_concurrency,
        seed=args.seed,
    )


def _terminate(signum, _frame) -> None:
    raise SystemExit(128 + signum)  # unwinds: every child is stopped on the way out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, help="streams during the traffic (50)")
    parser.add_argument("--seconds", type=float, help="traffic window, seconds (60)")
    parser.add_argument("--calls-per-minute", type=float, default=60.0)
    parser.add_argument("--idle-streams", type=int, help="idle streams held at once (1000)")
    parser.add_argument(
        "--idle-hold",
        type=float,
        default=20.0,
        help=f"seconds the idle streams are held (at least {HEARTBEAT_SECONDS + 2})",
    )
    parser.add_argument("--probes", type=int, default=5, help="messages published while idle")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the three sizes")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's traffic")
    parser.add_argument("--pg-url", help="PostgreSQL instead of SQLite (call tables emptied)")
    parser.add_argument("--redis-url", help="instead of a private embedded redis-server")
    parser.add_argument("--keep", action="store_true", help="keep the state folder and logs")
    args = parser.parse_args()
    opts = _options(args)

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if args.pg_url:
        ensure_postgres_database(args.pg_url)
        os.environ["DATABASE_URL"] = args.pg_url
    else:
        os.environ.pop("DATABASE_URL", None)  # prepare(): SQLite in the fresh folder
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    else:
        os.environ.pop("REDIS_URL", None)  # prepare() starts a private one
    workdir, redis_server = prepare("push-bench-")
    ok = False
    try:
        if args.pg_url:
            empty_tables()
        part_push(opts, workdir)
        ok = True
    finally:
        if redis_server is not None:
            redis_server.stop()
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nState folder and logs kept in {workdir}", file=sys.stderr)
    print_table()


if __name__ == "__main__":
    main()

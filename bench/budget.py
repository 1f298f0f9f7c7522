"""The budget part: how fresh the dashboard stays under Catapult's 1 request/s limit.

Each scenario runs the whole stack as bin/up does (`manage.py migrate`, then `manage.py
runstack`: embedded Redis, web, the simulator enforcing 1 request per second per resource
family, Celery worker and beat) in a fresh state folder, with live traffic on the real
clock, and watches it from outside: the simulator through its control API (GET /_sim/calls
says when each call entered each state; /_sim/stats counts the API requests), the SQLite
database read-only, the Celery queue in Redis.

After a warm-up (the backfill of the preloaded history), a measurement window; then a drain
during which the traffic goes on and the changes of the window can still reach the
database (a change not there by the end counts at its age so far, a lower bound).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
PART = "budget"
# name: (calls per minute, callbacks on)
SCENARIOS = {"on30": (30, True), "on60": (60, True), "off30": (30, False), "off60": (60, False)}
SIM_AUTH = ("demo-token", "demo-secret")  # the simulator's demo credentials (bin/up)
RANK = {"started": 0, "active": 1, "completed": 2, "rejected": 2, "error": 2}
LIVE = ("started", "active", "transferring")
POLL_SECONDS = 0.25  # database states
SIM_POLL_SECONDS = 1.0  # simulator calls, and the event counts of the calls that ended
QUEUE_POLL_SECONDS = 2.0
# Celery's default queue, and the lists kombu's Redis transport keeps for its priorities.
QUEUE_KEYS = ["celery"] + [f"celery\x06\x16{p}" for p in (3, 6, 9)]
# What bench/run.py sets for its other parts, and whatever would point the stack elsewhere.
FOREIGN_ENV = (
    "CATAPULT_",
    "DATABASE_URL",
    "REDIS_URL",
    "STATE_DIR",
    "SIMULATOR_",
    "WEB_PORT",
    "EMBEDDED_REDIS_PORT",
    "CALLBACK_",
    "SYNC_LOCK_TIMEOUT_SECONDS",
    "LOG_LEVEL",
    "DJANGO_SETTINGS_MODULE",
)


# --- the stack ----------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    from dashboard.embedded_redis import free_port

    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class Stack:
    workdir: Path
    web_port: int
    sim_port: int
    redis_port: int
    process: subprocess.Popen | None = None
    pids: set[int] = field(default_factory=set)

    @property
    def log(self) -> Path:
        return self.workdir / "stack.log"

    @property
    def database(self) -> Path:
        return self.workdir / "db.sqlite3"  # the default DATABASE_URL in STATE_DIR

    @property
    def sim_base(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def env(self, calls_per_minute: int, callbacks: bool, preload: int) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
        env.update(
            STATE_DIR=str(self.workdir),
            WEB_PORT=str(self.web_port),
            SIMULATOR_PORT=str(self.sim_port),
            EMBEDDED_REDIS_PORT=str(self.redis_port),
            SIMULATOR_CALLS_PER_MINUTE=str(calls_per_minute),
            SIMULATOR_PRELOAD=str(preload),
            SIMULATOR_CALLBACKS="true" if callbacks else "false",
        )
        return env

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def start(self, env: dict, timeout: float = 120.0) -> None:
        """migrate, then runstack in its own session; returns once the stack says it is up."""
        python = sys.executable
        manage = str(ROOT / "manage.py")
        migrate = subprocess.run(  # noqa: S603 - our own program
            [python, manage, "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise StackError(f"migrate failed:\n{migrate.stderr[-3000:]}")
        with self.log.open("w") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own program
                [python, manage, "runstack"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_own_session,  # noqa: PLW1509 - no threads touch the child side
            )
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C to stop everything." not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise StackError(f"runstack exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"the stack did not come up in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)
        self.pids = _descendants(self.process.pid)

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise StackError(
                f"runstack exited with {self.process.returncode} mid-run:\n{self.tail()}"
            )

    def stop(self) -> list[int]:
        """SIGTERM to runstack (it stops its children); returns the pids that had to be killed."""
        if self.process is None:
            return []
        self.pids |= _descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        leftovers = [pid for pid in sorted(self.pids) if _alive(pid)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while any(_alive(pid) for pid in leftovers) and time.monotonic() < deadline:
                time.sleep(0.1)
        return leftovers


class StackError(RuntimeError):
    pass


def _own_session() -> None:
    """runstack gets SIGTERM if this process dies, and Ctrl-C here does not reach it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setsid()


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- watching -----------------------------------------------------------------------------


def _db_time(value: str | None) -> float | None:
    """A datetime column as SQLite holds it for Django (UTC text), as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _db_text(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Watcher:
    """Polls the simulator, the database and the queue; keeps the first time each thing
    was seen."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sim = requests.Session()
        self.sim.auth = SIM_AUTH
        self.redis = redis.Redis.from_url(f"redis://127.0.0.1:{stack.redis_port}/0")
        self.db = sqlite3.connect(
            f"file:{stack.database}?mode=ro", uri=True, isolation_level=None, timeout=5
        )
        self.window_start = 0.0
        self.sim_calls: dict[str, dict] = {}  # latest GET /_sim/calls entry per call
        self.visible: dict[str, list[float | None]] = {}  # call -> when each rank showed
        self.complete: dict[str, float] = {}  # call -> when all its events were stored
        self.queue: list[tuple[float, int]] = []
        self.last_poll = 0.0
        self.next_sim = self.next_queue = 0.0

    def close(self) -> None:
        self.db.close()
        self.sim.close()
        self.redis.close()

    def sim_get(self, path: str, **params) -> object:
        response = self.sim.get(f"{self.stack.sim_base}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset_stats(self) -> None:
        self.sim.post(f"{self.stack.sim_base}/_sim/stats/reset", timeout=10).raise_for_status()

    def run(self, until: float, queue: bool = True) -> None:
        while (now := time.time()) < until:
            self.stack.check()
            self.poll_states(now)
            if now >= self.next_sim:
                self.poll_sim()
                self.poll_events(time.time())
                self.next_sim = now + SIM_POLL_SECONDS
            if queue and now >= self.next_queue:
                self.sample_queue(now)
                self.next_queue = now + QUEUE_POLL_SECONDS
            time.sleep(max(0.0, now + POLL_SECONDS - time.time()))

    def poll_sim(self) -> None:
        since = int(self.window_start * 1000)
        for call in self.sim_get("/_sim/calls", since=since):
            self.sim_calls[call["id"]] = call

    def poll_states(self, now: float) -> None:
        rows = self.db.execute("SELECT catapult_id, state, state_changed_at FROM calls_call")
        for call_id, state, changed_at in rows:
            rank = RANK.get(state, 1)  # transferring: still an answered call
            seen = self.visible.setdefault(call_id, [None, None, None])
            if seen[rank] is not None:
                continue
            # The change showed between the previous poll and this one; state_changed_at
            # (when the dashboard wrote it) says when, if it falls in that interval.
            changed = _db_time(changed_at)
            at = changed if changed is not None and self.last_poll < changed <= now else now
            for lower in range(rank + 1):  # a state skipped in between showed at once too
                if seen[lower] is None:
                    seen[lower] = at
        self.last_poll = now

    def ended_in_window(self) -> list[dict]:
        start = self.window_start * 1000
        return [c for c in self.sim_calls.values() if c.get("endTime", -1) >= start]

    def poll_events(self, now: float) -> None:
        waiting = {c["id"]: c["events"] for c in self.ended_in_window()}
        waiting = {k: v for k, v in waiting.items() if k not in self.complete}
        ids = list(waiting)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT c.catapult_id, COUNT(e.id) FROM calls_call c"
                " JOIN calls_callevent e ON e.call_id = c.id AND e.source = 'api'"
                f" WHERE c.catapult_id IN ({marks}) GROUP BY c.catapult_id",  # noqa: S608
                chunk,
            )
            for call_id, stored in rows:
                if stored >= waiting[call_id]:
                    self.complete[call_id] = now

    def sample_queue(self, now: float) -> None:
        with self.redis.pipeline() as pipe:
            for key in QUEUE_KEYS:
                pipe.llen(key)
            self.queue.append((now, sum(pipe.execute())))

    def dump(self, path: Path, start: float, end: float, until: float) -> None:
        """What was observed, for a closer look: the simulator's calls, when each rank
        (started, active, ended) showed in the database, when the events were complete."""
        observed = {
            "window": [start, end],
            "until": until,
            "calls": list(self.sim_calls.values()),
            "visible": self.visible,
            "events_complete": self.complete,
            "queue": self.queue,
        }
        path.write_text(json.dumps(observed))

    def backlog(self, now: float) -> int:
        """Ended calls whose events are due to be read and not read yet."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM calls_call WHERE events_due_at <= ?", [_db_text(now)]
        ).fetchone()
        return row[0]

    def sync_runs(self, start: float, end: float) -> dict[str, int]:
        with contextlib.suppress(sqlite3.Error):
            rows = self.db.execute(
                "SELECT outcome, COUNT(*) FROM calls_syncrun"
                " WHERE started_at >= ? AND started_at < ? GROUP BY outcome",
                [_db_text(start), _db_text(end)],
            )
            return dict(rows.fetchall())
        return {}


# --- figures ------------------------------------------------------------------------------


@dataclass
class Lags:
    """Lags of the things that made it, and the ages of those that had not yet."""

    done: list[float] = field(default_factory=list)
    missing: list[float] = field(default_factory=list)

    def add(self, started: float, finished: float | None, end: float) -> None:
        if finished is None:
            self.missing.append(end - started)
        else:
            self.done.append(max(0.0, finished - started))

    @property
    def all(self) -> list[float]:
        return sorted(self.done + self.missing)

    def spread(self) -> tuple[float, float, float]:
        ordered = self.all
        if not ordered:
            return math.nan, math.nan, math.nan
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
        return ordered[(len(ordered) - 1) // 2], p95, ordered[-1]

    def text(self) -> str:
        n = len(self.done) + len(self.missing)
        if not n:
            return "nothing to measure"
        p50, p95, top = self.spread()
        text = f"p50 {p50:.1f} s, p95 {p95:.1f} s, max {top:.1f} s over {n}"
        if self.missing:
            text += f"; {len(self.missing)} not in the database at the end (counted at their age)"
        return text


RANK_NAMES = ("started", "active", "ended")


def state_lags(watcher: Watcher, start: float, end: float, until: float) -> dict[str, Lags]:
    """Each state change in [start, end), from the simulator to the database: all of them
    ("all") and by the state entered."""
    lags = {name: Lags() for name in ("all", *RANK_NAMES)}
    for call in watcher.sim_calls.values():
        seen = watcher.visible.get(call["id"], [None, None, None])
        entries: dict[int, tuple[str, int]] = {}  # instant -> the last state entered then
        for entry in call["states"]:
            entries[entry["at"]] = (entry["state"], entry["at"])
        ranks_done: set[int] = set()
        for state, at in entries.values():
            rank = RANK.get(state)
            if rank is None or rank in ranks_done:  # transferring, or active again after it
                continue
            ranks_done.add(rank)
            if start <= at / 1000 < end:
                for kind in ("all", RANK_NAMES[rank]):
                    lags[kind].add(at / 1000, seen[rank], until)
    return lags


def events_lags(watcher: Watcher, end: float, until: float) -> Lags:
    """Calls that ended in the window: from the hangup to all their events stored."""
    lags = Lags()
    for call in watcher.ended_in_window():
        if call["endTime"] / 1000 < end:
            lags.add(call["endTime"] / 1000, watcher.complete.get(call["id"]), until)
    return lags


@dataclass
class Targets:
    state_p95: float | None = None
    events_max: float | None = None
    per_call: float | None = None
    flat_queue: bool = False
    no_429: bool = False


# The targets: real time with callbacks at 60/min; polling alone keeps within 15 s.
TARGETS = {
    "on60": Targets(state_p95=2.0, flat_queue=True, no_429=True),
    "off30": Targets(state_p95=15.0, events_max=300.0, per_call=1.2),
    "off60": Targets(state_p95=15.0),
}


def _verdict(ok: bool | None, applies: bool) -> bool | None:
    return ok if applies else None


def report(record, name: str, result: dict) -> None:
    targets = TARGETS.get(name, Targets())
    label = f"{name}:"
    states: dict[str, Lags] = result["states"]
    p95 = states["all"].spread()[1]
    record(
        PART,
        f"{label} state lag (sim -> db)",
        states["all"].text(),
        f"p95 <= {targets.state_p95:g} s" if targets.state_p95 else "",
        _verdict(p95 <= (targets.state_p95 or 0), targets.state_p95 is not None),
    )
    by_state = []
    for kind in RANK_NAMES:
        n = len(states[kind].all)
        if n:
            p50, p95, top = states[kind].spread()
            by_state.append(f"{kind} p50 {p50:.1f} / p95 {p95:.1f} / max {top:.1f} s ({n})")
    record(PART, f"{label} state lag by state entered", "; ".join(by_state) or "none")
    events: Lags = result["events"]
    top = events.spread()[2]
    record(
        PART,
        f"{label} events complete after hangup",
        events.text(),
        f"max <= {targets.events_max:g} s" if targets.events_max else "",
        _verdict(top <= (targets.events_max or 0), targets.events_max is not None),
    )
    finished, requests_made = result["finished"], result["requests"]
    per_call = requests_made / finished if finished else math.inf
    record(
        PART,
        f"{label} API requests per finished call",
        f"{per_call:.2f} ({requests_made} requests, {finished} calls finished;"
        f" {result['by_route']})",
        f"<= {targets.per_call:g}" if targets.per_call else "",
        _verdict(per_call <= (targets.per_call or 0), targets.per_call is not None),
    )
    record(
        PART,
        f"{label} 429s",
        str(result["429"]),
        "0" if targets.no_429 else "",
        _verdict(result["429"] == 0, targets.no_429),
    )
    depths = [depth for _, depth in result["queue"]] or [0]
    flat = depths[-1] <= depths[0] + 2 and max(depths) <= 10
    record(
        PART,
        f"{label} Celery queue depth",
        f"max {max(depths)}, final {depths[-1]} (start {depths[0]}, {len(depths)} samples)",
        "flat (final <= start + 2, max <= 10)" if targets.flat_queue else "",
        _verdict(flat, targets.flat_queue),
    )
    record(
        PART,
        f"{label} events still to read (due)",
        f"{result['backlog_end']} at the window's end ({result['backlog_start']} at its start)",
    )
    runs = ", ".join(f"{n} {outcome}" for outcome, n in sorted(result["runs"].items()))
    record(PART, f"{label} sync cycles in the window", runs or "none recorded")


# --- a scenario ---------------------------------------------------------------------------


def run_scenario(name: str, args, workdir: Path) -> dict:
    per_minute, callbacks = SCENARIOS[name]
    stack = Stack(workdir / name, *_free_ports(3))
    stack.workdir.mkdir(parents=True)
    warmup, seconds, drain = durations(args)
    print(
        f"\n[budget] {name}: {per_minute} calls/min, callbacks {'on' if callbacks else 'off'};"
        f" warm-up {warmup:.0f} s, window {seconds:.0f} s, drain {drain:.0f} s"
        f" (log {stack.log})",
        flush=True,
    )
    watcher = None
    try:
        stack.start(stack.env(per_minute, callbacks, args.budget_preload))
        watcher = Watcher(stack)
        warm_until = time.time() + warmup
        while time.time() < warm_until:
            stack.check()
            time.sleep(0.5)
        watcher.window_start = start = time.time()
        watcher.reset_stats()
        backlog_start = watcher.backlog(start)
        watcher.run(start + seconds)
        end = time.time()
        stats = watcher.sim_get("/_sim/stats")
        backlog_end = watcher.backlog(end)
        watcher.sample_queue(end)
        watcher.run(end + drain, queue=False)
        until = time.time()
        watcher.poll_sim()
        watcher.poll_states(until)
        watcher.poll_events(until)
        finished = [c for c in watcher.ended_in_window() if c["endTime"] / 1000 < end]
        watcher.dump(stack.workdir / "observed.json", start, end, until)
        return {
            "states": state_lags(watcher, start, end, until),
            "events": events_lags(watcher, end, until),
            "finished": len(finished),
            "requests": stats["requests"],
            "by_route": ", ".join(f"{k} {v}" for k, v in sorted(stats["by_route"].items())),
            "429": stats["by_status"].get("429", 0),
            "queue": watcher.queue,
            "backlog_start": backlog_start,
            "backlog_end": backlog_end,
            "runs": watcher.sync_runs(start, end),
        }
    finally:
        if watcher is not None:
            watcher.close()
        leftovers = stack.stop()
        if leftovers:
            print(f"  had to kill what the stack left running: {leftovers}", flush=True)


def durations(args) -> tuple[float, float, float]:
    """(warm-up, window, drain) in seconds; --scale below 1 shortens them, within reason."""
    scale = min(1.0, args.scale)
    return (
        max(15.0, args.budget_warmup * scale),
        max(30.0, args.budget_seconds * scale),
        max(15.0, args.budget_drain * scale),
    )


def part_budget(args, workdir: Path, record) -> None:
    names = [n.strip() for n in args.budget_scenarios.split(",") if n.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown budget scenarios: {', '.join(sorted(unknown))}")
    for name in names:
        try:
            result = run_scenario(name, args, workdir / "budget")
        except (StackError, requests.RequestException, redis.RedisError, sqlite3.Error) as exc:
            record(PART, f"{name}: run", f"failed: {str(exc).splitlines()[0][:200]}", "", False)
            print(str(exc)[-3000:], flush=True)
            continue
        report(record, name, result)

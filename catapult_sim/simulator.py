"""The Simulator: one Catapult account, its calls, and the HTTP server that exposes them."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from datetime import timedelta

from . import history, render
from .callbacks import CallbackDispatcher
from .clock import RealClock
from .errors import ApiError
from .faults import Faults
from .ids import IdFactory, derived_id
from .machine import Engine
from .numbers import NumberPool
from .scheduler import Scheduler
from .server import ApiServer
from .store import Call, CallStore, Event
from .traffic import TrafficGenerator
from .validation import E164, SIP_URI

log = logging.getLogger(__name__)


class Simulator:
    """A Catapult v1 voice account served over HTTP.

    Thread-safe: every state change happens under `self.lock`, shared by the HTTP threads,
    the scheduler thread, traffic and the methods below.
    """

    def __init__(
        self,
        user_id: str = "u-demo",
        # Well-known demo credentials: the simulator guards nothing of value.
        api_token: str = "demo-token",  # noqa: S107
        api_secret: str = "demo-secret",  # noqa: S107
        seed: int | str = 1,
        clock=None,
        account_numbers: list[str] | None = None,
    ) -> None:
        self.user_id = user_id
        self.api_token = api_token
        self.api_secret = api_secret
        self.seed = seed
        self.clock = clock if clock is not None else RealClock()
        self.lock = threading.RLock()
        self.ids = IdFactory(seed)
        self.numbers = NumberPool(seed, account_numbers)
        self.application_id = derived_id("a", "application", seed)
        self.store = CallStore()
        self.scheduler = Scheduler(self.clock, self.lock)
        self.callbacks = CallbackDispatcher()
        # Rate limits are about the HTTP conversation, and clients compare X-RateLimit-Reset
        # with their own clock: they follow the wall clock even when calls use a ManualClock.
        self.faults = Faults(RealClock(), seed)
        self.engine = Engine(self, seed)
        self.traffic = TrafficGenerator(self, seed)
        self._rng = random.Random(f"simulator:{seed}")

        # Knobs (plain attributes; change them at any time).
        self.incoming_call_url: str | None = None
        self.incoming_call_method = "POST"
        self.incoming_call_fallback_url: str | None = None
        self.answer_delay_seconds = 2.0
        self.outbound_hangup_after_seconds: float | None = None
        self.auto_gather_digits = True

        self._server: ApiServer | None = None
        self._server_thread: threading.Thread | None = None
        self._origin = "http://127.0.0.1"
        self._stats_lock = threading.Lock()
        self._by_route: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._requests = 0

    # -- addresses ---------------------------------------------------------------------

    @property
    def account_numbers(self) -> list[str]:
        return list(self.numbers.account)

    @property
    def base_url(self) -> str:
        """Origin the server listens on, e.g. http://127.0.0.1:8900 (API under /v1/...)."""
        return self._origin

    @property
    def api_base(self) -> str:
        return f"{self._origin}/v1/users/{self.user_id}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = ApiServer((host, port), self)
        # Listening on every interface: advertise loopback, which always reaches us.
        wildcard = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104
        shown = wildcard.get(host, host)
        if ":" in shown:
            shown = f"[{shown}]"
        self._origin = f"http://{shown}:{server.server_address[1]}"
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="catapult-sim-http",
            daemon=True,
        )
        self._server_thread.start()
        if not self.clock.manual:
            self.scheduler.start_thread()
        log.debug("listening on %s (user %s)", self._origin, self.user_id)
        return self

    def stop(self) -> None:
        self.stop_traffic()
        self.scheduler.stop_thread()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
            self._server_thread = None
        self.callbacks.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- time --------------------------------------------------------------------------

    def advance(self, seconds: float) -> int:
        """ManualClock only: move time forward, running every transition that falls due
        on the way, each at its own instant. Returns how many ran."""
        if not self.clock.manual:
            raise TypeError("advance() needs a ManualClock; the real clock moves by itself")
        return self.scheduler.advance(seconds)

    def run_due(self) -> int:
        """Run the transitions that are due now."""
        return self.scheduler.run_due()

    # -- traffic -----------------------------------------------------------------------

    def start_traffic(self, calls_per_minute: float = 12.0) -> None:
        with self.lock:
            self.traffic.start(calls_per_minute, self.clock.now_ms())
        if not self.clock.manual:
            self.scheduler.start_thread()

    def stop_traffic(self) -> None:
        with self.lock:
            self.traffic.stop()

    def preload(
        self,
        n_calls: int,
        events_per_call: int = 8,
        span: timedelta = timedelta(days=7),
        live: int = 0,
    ) -> list[str]:
        """Create `n_calls` finished calls spread over `span` before now, plus `live` calls
        in progress. Returns the ids (historical first)."""
        span_ms = int(span.total_seconds() * 1000)
        with self.lock:
            return self.traffic.preload(
                n_calls, events_per_call, span_ms, live, self.clock.now_ms()
            )

    # -- remote party ------------------------------------------------------------------

    def create_inbound_call(
        self, from_: str | None = None, to: str | None = None, auto_answer: bool = True
    ) -> str:
        """Someone calls one of the account's numbers. With auto_answer=False the call
        stays `started` (ringing) until answered, rejected or hung up."""
        with self.lock:
            from_ = from_ or self.numbers.outside_party(self._rng)
            to = to or self.numbers.own(self._rng)
            if not (E164.match(from_) or SIP_URI.match(from_)):
                raise ValueError(f"invalid caller number {from_!r}")
            if to not in self.numbers.account:
                raise ValueError(f"{to} is not one of the account's numbers")
            call = self.engine.create_inbound(
                from_, to, self.clock.now_ms(), auto_answer=auto_answer
            )
            return call.id

    def hangup(self, call_id: str, cause: str = "NORMAL_CLEARING") -> None:
        """The remote party hangs up. Raises ApiError (403/404) like the API would."""
        with self.lock:
            self.engine.hangup(self.engine.call(call_id), self.clock.now_ms(), cause)

    def press_digits(self, call_id: str, digits: str) -> None:
        """The remote party presses keys on an active call (dtmf events, gather input)."""
        with self.lock:
            self.engine.press_digits(self.engine.call(call_id), self.clock.now_ms(), digits)

    def add_late_event(
        self, call_id: str, name: str, data: str | None = None, seconds_ago: float = 0.0
    ) -> None:
        """Append an event to a call's list now, stamped `seconds_ago` (the platform adds
        some after the hangup, with earlier times): the "late event" fault."""
        with self.lock:
            call = self.engine.call(call_id)
            self.engine._event(call, self.clock.now_ms() - int(seconds_ago * 1000), name, data)

    # -- inspection --------------------------------------------------------------------

    def call_events(self, call: Call) -> list[Event]:
        return history.events(call) if call.events is None else list(call.events)

    def calls_snapshot(self) -> list[dict]:
        """Every call as GET /calls/{id} renders it, newest first."""
        with self.lock:
            calls, _ = self.store.page(None, None, 0, max(1, len(self.store)), True)
            return [render.call_json(c, self.api_base) for c in calls]

    def call_snapshot(self, call_id: str) -> dict:
        with self.lock:
            return render.call_json(self.engine.call(call_id), self.api_base)

    def events_snapshot(self, call_id: str) -> list[dict]:
        with self.lock:
            call = self.engine.call(call_id)
            return [render.event_json(e) for e in self.call_events(call)]

    def recordings_snapshot(self, call_id: str) -> list[dict]:
        with self.lock:
            call = self.engine.call(call_id)
            return [render.recording_json(r, self.api_base) for r in call.recordings or ()]

    def wait_for_callbacks(self, timeout: float = 5.0) -> bool:
        """Block until every callback produced so far has been attempted."""
        return self.callbacks.wait_idle(timeout)

    @property
    def callback_deliveries(self) -> list[dict]:
        """The latest callback attempts (URL without credentials, status, ok, error)."""
        return list(self.callbacks.deliveries)

    # -- statistics --------------------------------------------------------------------

    def count_request(self, route: str, status: int | None) -> None:
        with self._stats_lock:
            self._requests += 1
            self._by_route[route] += 1
            if status is not None:
                self._by_status[status] += 1

    def stats(self) -> dict:
        with self._stats_lock:
            return {
                "requests": self._requests,
                "by_route": dict(self._by_route),
                "by_status": dict(self._by_status),
            }

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._requests = 0
            self._by_route.clear()
            self._by_status.clear()


__all__ = ["ApiError", "Simulator"]

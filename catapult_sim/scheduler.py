"""Time-ordered queue of future transitions (remote answer, hang-up, playback end, ...).

Every action is called as `fn(due_ms, *args)` and stamps what it does with `due_ms`, not
with the wall clock. That makes three things work the same way:
- the real clock, where a daemon thread runs actions as they fall due;
- a ManualClock, where `advance()` runs them one by one, moving the clock to each due time;
- back-dated work (calls "already in progress" at preload), scheduled in the past and
  replayed in order by `run_due()`.

Actions find the call in whatever state the API left it and do nothing when they no longer
apply (a remote answer for a call that was cancelled meanwhile, say).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from .errors import ApiError

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, clock, lock: threading.RLock) -> None:
        self._clock = clock
        self._cond = threading.Condition(lock)
        self._heap: list[tuple[int, int, Callable, tuple]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, due_ms: int, fn: Callable, *args: object) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due_ms, next(self._seq), fn, args))
            self._cond.notify()

    def run_due(self) -> int:
        """Run every action due now (including ones that the run itself makes due)."""
        ran = 0
        with self._cond:
            while self._heap and self._heap[0][0] <= self._clock.now_ms():
                self._run(heapq.heappop(self._heap))
                ran += 1
        return ran

    def advance(self, seconds: float) -> int:
        """ManualClock only: step time forward, running each action at its own due time."""
        ran = 0
        with self._cond:
            target = self._clock.now_ms() + round(seconds * 1000)
            while self._heap and self._heap[0][0] <= target:
                item = heapq.heappop(self._heap)
                self._clock.set_ms(item[0])
                self._run(item)
                ran += 1
            self._clock.set_ms(target)
        return ran

    def _run(self, item: tuple[int, int, Callable, tuple]) -> None:
        due, _, fn, args = item
        try:
            fn(due, *args)
        except ApiError:
            pass  # the call moved on (hung up by the API, say): the action no longer applies
        except Exception:
            log.exception("scheduled action %s failed", getattr(fn, "__name__", fn))

    # -- real-clock thread ---------------------------------------------------------------

    def start_thread(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._loop, name="catapult-sim-scheduler", daemon=True
            )
            self._thread.start()

    def stop_thread(self) -> None:
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=5)

    def _loop(self) -> None:
        with self._cond:
            while not self._stopping:
                now = self._clock.now_ms()
                if self._heap and self._heap[0][0] <= now:
                    self._run(heapq.heappop(self._heap))
                    continue
                wait = (self._heap[0][0] - now) / 1000 if self._heap else 1.0
                self._cond.wait(timeout=min(wait, 1.0))

"""Helpers for test suites that talk to the simulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .simulator import Simulator


@contextmanager
def running_simulator(**kwargs: object) -> Iterator[Simulator]:
    """Start a Simulator on 127.0.0.1, on a free port, in a thread; stop it afterwards.

    Keyword arguments go to Simulator(...). Example:

        with running_simulator(seed=7) as sim:
            requests.get(f"{sim.api_base}/calls", auth=(sim.api_token, sim.api_secret))
    """
    sim = Simulator(**kwargs)
    sim.start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        sim.stop()

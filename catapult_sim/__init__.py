"""A local simulator of the Bandwidth Catapult v1 Voice API (the calls resource).

    from catapult_sim import Simulator
    sim = Simulator(seed=1).start()
    print(sim.base_url)   # http://127.0.0.1:PORT, API under /v1/users/{user_id}/...
    sim.stop()

See README.md in this package for the API, the knobs and the fidelity notes.
"""

from .clock import ManualClock, RealClock
from .errors import ApiError
from .simulator import Simulator

__all__ = ["ApiError", "ManualClock", "RealClock", "Simulator"]

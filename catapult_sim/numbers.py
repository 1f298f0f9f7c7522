"""Phone numbers: the account's own numbers and a pool of outside parties.

Every generated number uses the 555-01xx block that North American numbering reserves
for fiction, so nothing the simulator produces can be dialled. Outside parties are drawn
with a Zipf-like weight: a few numbers call often, most rarely, as in real traffic, and
searches by number find several calls.
"""

from __future__ import annotations

import itertools
import random

ACCOUNT_AREA_CODE = "919"
AREA_CODES = (
    "206", "212", "303", "305", "312", "404", "415", "469", "503", "512",
    "602", "615", "617", "702", "704", "713", "720", "804", "916", "980",
)  # fmt: skip


def _fictional(rng: random.Random, area: str) -> str:
    return f"+1{area}555{rng.randrange(100, 200):04d}"


class NumberPool:
    def __init__(
        self, seed: int | str, account_numbers: list[str] | None = None, size: int = 150
    ) -> None:
        rng = random.Random(f"numbers:{seed}")
        if account_numbers:
            self.account = list(account_numbers)
        else:
            own: set[str] = set()
            while len(own) < 5:
                own.add(_fictional(rng, ACCOUNT_AREA_CODE))
            self.account = sorted(own)
        outside: list[str] = []
        seen = set(self.account)
        while len(outside) < size:
            number = _fictional(rng, rng.choice(AREA_CODES))
            if number not in seen:
                seen.add(number)
                outside.append(number)
        self.outside = outside
        self._cumulative = list(itertools.accumulate(1 / (i + 1) ** 1.05 for i in range(size)))

    def outside_party(self, rng: random.Random) -> str:
        return rng.choices(self.outside, cum_weights=self._cumulative)[0]

    def own(self, rng: random.Random) -> str:
        return rng.choice(self.account)

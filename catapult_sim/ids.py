"""Resource ids.

Catapult ids are a short prefix, a dash and 25 lower-case characters. Every real id quoted
in the reference (`c-3rtok7ztulq5yttum5cinva`, `u-ezexlq3syudojxmrf7vuu7y`, ...) uses only
a-z and the digits 2-7: the RFC 4648 base32 alphabet. Encoding 16 random bytes that way is
both faithful and fast enough to mint a few hundred thousand ids in well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").lower()[:25]


class IdFactory:
    """Seeded id source: the same seed and the same sequence of calls give the same ids."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(f"ids:{seed}")
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            raw = self._rng.randbytes(16)
        return f"{prefix}-{_b32(raw)}"


def derived_id(prefix: str, *parts: object) -> str:
    """A stable id computed from its parts, for resources synthesized on demand."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest()
    return f"{prefix}-{_b32(digest)}"

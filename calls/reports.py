"""Statistics of one number's calls, bounded so a number with millions of calls stays fast."""

from collections import Counter
from dataclasses import dataclass

from django.db.models import Q

from calls.models import Call

# Per side (caller, callee). Each side is read newest first along its own index and
# stops here: the account's own numbers can be on hundreds of thousands of calls.
STATS_WINDOW = 2_000


@dataclass(frozen=True)
class NumberStats:
    total: int
    capped: bool  # True: the figures cover the newest calls only
    average: float | None  # talk time, seconds
    outcomes: list[dict]  # {"state", "hangup_cause", "n"}, most frequent first


def number_statistics(sides: list[Q], window: int = STATS_WINDOW) -> NumberStats:
    rows: dict[int, tuple] = {}
    capped = False
    for side in sides:
        chunk = list(
            Call.objects.filter(side)
            .order_by("-start_time")
            .values_list("id", "state", "hangup_cause", "duration")[:window]
        )
        capped |= len(chunk) == window
        rows.update((row[0], row) for row in chunk)
    counts = Counter((state, cause) for _, state, cause, _ in rows.values())
    durations = [duration for *_, duration in rows.values() if duration is not None]
    return NumberStats(
        total=len(rows),
        capped=capped,
        average=sum(durations) / len(durations) if durations else None,
        outcomes=[
            {"state": state, "hangup_cause": cause, "n": n}
            for (state, cause), n in counts.most_common(20)
        ],
    )

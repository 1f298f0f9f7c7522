"""Statistics of one number's calls, bounded so a number with millions of calls stays fast."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from calls.models import Call

# Per side (caller, callee). Each side is read newest first along its own index and
# stops here: the account's own numbers can be on hundreds of thousands of calls.
STATS_WINDOW = 1_000


@dataclass(frozen=True)
class NumberStats:
    total: int
    capped: bool  # True: the figures cover the newest calls only
    average: float | None  # talk time, seconds
    outcomes: list[dict]  # {"state", "hangup_cause", "n"}, most frequent first


def number_statistics(sides: list[Q], window: int = STATS_WINDOW) -> NumberStats:
    """Outcomes and average talk time over the newest `window` calls of each side.

    The database does the counting: each side's window comes from its own
    (digits, start time) index, the two are merged by call id (a call from the number to
    itself counts once) and grouped, so only the ~20 outcome rows travel to Python.
    """
    # Identifiers below are fixed; values travel as parameters (the ORM compiles each side).
    flags = [f"s{i}" for i in range(len(sides))]
    windows, params = [], []
    for i, side in enumerate(sides):
        qs = (
            Call.objects.filter(side)
            .order_by("-start_time")
            .values_list("id", "state", "hangup_cause", "duration")[:window]
        )
        sql, side_params = qs.query.sql_with_params()
        marks = ", ".join(f"{int(j == i)} AS {flag}" for j, flag in enumerate(flags))
        windows.append(f"SELECT w.*, {marks} FROM ({sql}) AS w")  # noqa: S608
        params.extend(side_params)
    calls = (
        "SELECT id, state, hangup_cause, duration, "  # noqa: S608
        + ", ".join(f"MAX({flag}) AS {flag}" for flag in flags)
        + f" FROM ({' UNION ALL '.join(windows)}) AS u GROUP BY id, state, hangup_cause, duration"
    )
    query = (
        "SELECT state, hangup_cause, COUNT(*), SUM(duration), COUNT(duration), "  # noqa: S608
        + ", ".join(f"SUM({flag})" for flag in flags)
        + f" FROM ({calls}) AS c GROUP BY state, hangup_cause"
        + " ORDER BY COUNT(*) DESC, state, hangup_cause"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        groups = cursor.fetchall()
    per_side = [sum(row[5 + i] for row in groups) for i in range(len(sides))]
    talk = sum(row[3] or 0 for row in groups)
    timed = sum(row[4] for row in groups)
    return NumberStats(
        total=sum(row[2] for row in groups),
        capped=any(n >= window for n in per_side),
        average=talk / timed if timed else None,
        outcomes=[
            {"state": state, "hangup_cause": cause, "n": n} for state, cause, n, *_ in groups[:20]
        ],
    )

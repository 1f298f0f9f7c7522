"""Database triggers that keep CallRollup exact and ConcurrencyPeak fresh.

Triggers, not Python hooks: the sync writes calls with set-based SQL (COPY + INSERT ...
ON CONFLICT, UPDATE ... FROM, executemany), callbacks and actions with the ORM, retention
with a DELETE. A trigger sees every one of them, old and new values included, inside the
writer's own transaction, so a rollup can never drift from the calls it counts.

- PostgreSQL: one statement-level trigger per operation with transition tables: a batch
  of 500 calls costs one grouped upsert into the rollups, not 500.
- SQLite (the demo database): row-level triggers, each a pair of small statements.

A call counts in the quarter hour of its start time. Moving between rows (a state that
changes, a call that ends hours later, a corrected start) subtracts the old values and
adds the new ones. Rows that fall to zero stay (harmless, and re-used).

KeyedRollup holds the same counts once more per own number and per tag (see the model),
and RollupKey every key it has used. Every writer takes its locks in one order (keys,
keyed rows, rollup rows, each sorted), so two writers cannot deadlock on them.
"""

# The account's own number on a call: the caller of an outbound call, else the callee.
# The overview's number filter counts these from KeyedRollup, and the calls whose other
# side matches from the calls (see calls/analytics/keyed.py).
OWN_DIGITS = "CASE WHEN {p}direction = 'out' THEN {p}from_digits ELSE {p}to_digits END"
# The other party's reversed digits (the index call_remote_rev_prefix, PostgreSQL).
REMOTE_DIGITS_REV = "CASE WHEN direction = 'out' THEN to_digits_rev ELSE from_digits_rev END"
# A tag is its own key up to this length; on PostgreSQL a longer one is keyed by its md5,
# since an index entry has a size limit (a tag is free text from the API).
KEY_TEXT_MAX = 200

LIVE = "('started', 'active', 'transferring')"

# --- PostgreSQL ---------------------------------------------------------------------------

_PG_BUCKET = "date_bin('15 minutes', {t}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


def _pg_delta(table: str, sign: int) -> str:
    b = _PG_BUCKET.format(t="start_time")
    return (
        f"SELECT {b} AS bucket, direction, state, hangup_cause, {sign} AS calls, "
        f"{sign} * (active_time IS NOT NULL)::int AS answered, "
        f"{sign} * (duration IS NOT NULL)::int AS timed, "
        f"{sign} * COALESCE(duration, 0)::bigint AS talk, "
        f"{sign} * COALESCE(chargeable_duration, 0)::bigint AS charge FROM {table}"
    )


def _pg_interval(table: str) -> str:
    """The quarter hours a call is live in: from its start to its end (to any time while
    it is live). A final call without an end time covers its start's slot only."""
    lo = _PG_BUCKET.format(t="start_time")
    hi = _PG_BUCKET.format(t="COALESCE(end_time, start_time)")
    return (
        f"SELECT {lo} AS lo, CASE WHEN state IN {LIVE} THEN 'infinity'::timestamptz "
        f"ELSE {hi} END AS hi FROM {table}"
    )


_PG_SUMS = (
    "{sign} AS calls, {sign} * (active_time IS NOT NULL)::int AS answered, "
    "{sign} * (duration IS NOT NULL)::int AS timed, "
    "{sign} * COALESCE(duration, 0)::bigint AS talk, "
    "{sign} * COALESCE(chargeable_duration, 0)::bigint AS charge"
)
_PG_TAG_KEY = f"CASE WHEN length(tag) <= {KEY_TEXT_MAX} THEN tag ELSE 'md5:' || md5(tag) END"


def _pg_keyed_delta(table: str, sign: int) -> str:
    b = _PG_BUCKET.format(t="start_time")
    own = OWN_DIGITS.format(p="")
    sums = _PG_SUMS.format(sign=sign)
    return (
        f"SELECT {b} AS bucket, 'own' AS kind, {own} AS key, {own} AS text, direction, "
        f"state, hangup_cause, {sums} FROM {table} WHERE {own} <> '' UNION ALL "
        f"SELECT {b}, 'tag', {_PG_TAG_KEY}, tag, direction, state, hangup_cause, {sums} "
        f"FROM {table} WHERE tag <> ''"
    )


_PG_KEYS_ADD = """
{prefix} INSERT INTO calls_rollupkey (kind, key, text)
SELECT DISTINCT ON (kind, key) kind, key, text FROM ({deltas}) AS d
ORDER BY kind, key
ON CONFLICT (kind, key) DO NOTHING;
"""

_PG_KEYED_APPLY = """
{prefix} INSERT INTO calls_keyedrollup
    (kind, key, bucket, direction, state, hangup_cause, calls, answered, timed, talk_seconds,
     chargeable_seconds)
SELECT kind, key, bucket, direction, state, hangup_cause, SUM(calls), SUM(answered),
       SUM(timed), SUM(talk), SUM(charge)
FROM ({deltas}) AS d
GROUP BY kind, key, bucket, direction, state, hangup_cause
HAVING SUM(calls) <> 0 OR SUM(answered) <> 0 OR SUM(timed) <> 0 OR SUM(talk) <> 0
    OR SUM(charge) <> 0
ORDER BY kind, key, bucket, direction, state, hangup_cause
ON CONFLICT (kind, key, bucket, direction, state, hangup_cause) DO UPDATE SET
    calls = calls_keyedrollup.calls + EXCLUDED.calls,
    answered = calls_keyedrollup.answered + EXCLUDED.answered,
    timed = calls_keyedrollup.timed + EXCLUDED.timed,
    talk_seconds = calls_keyedrollup.talk_seconds + EXCLUDED.talk_seconds,
    chargeable_seconds = calls_keyedrollup.chargeable_seconds + EXCLUDED.chargeable_seconds;
"""

_PG_APPLY = """
INSERT INTO calls_callrollup
    (bucket, direction, state, hangup_cause, calls, answered, timed, talk_seconds,
     chargeable_seconds)
SELECT bucket, direction, state, hangup_cause, SUM(calls), SUM(answered), SUM(timed),
       SUM(talk), SUM(charge)
FROM ({deltas}) AS d
GROUP BY bucket, direction, state, hangup_cause
HAVING SUM(calls) <> 0 OR SUM(answered) <> 0 OR SUM(timed) <> 0 OR SUM(talk) <> 0
    OR SUM(charge) <> 0
-- One order for every writer: two transactions upserting the same rows cannot deadlock.
ORDER BY bucket, direction, state, hangup_cause
ON CONFLICT (bucket, direction, state, hangup_cause) DO UPDATE SET
    calls = calls_callrollup.calls + EXCLUDED.calls,
    answered = calls_callrollup.answered + EXCLUDED.answered,
    timed = calls_callrollup.timed + EXCLUDED.timed,
    talk_seconds = calls_callrollup.talk_seconds + EXCLUDED.talk_seconds,
    chargeable_seconds = calls_callrollup.chargeable_seconds + EXCLUDED.chargeable_seconds;
-- One range per batch (a page of calls spans minutes to hours): slightly more than
-- needed is dropped, and one index range scan does it.
DELETE FROM calls_concurrencypeak
WHERE slot BETWEEN (SELECT MIN(lo) FROM ({intervals}) AS i)
               AND (SELECT MAX(hi) FROM ({intervals}) AS i);
"""

# An update counts only the rows whose counted columns (or end time) changed: most
# updates touch other columns (synced_at, events_synced_at, ...). The old and new rows
# are joined once (MATERIALIZED), and both the rollup upsert and the cache invalidation
# read that one result: transition tables have no index, so each extra join costs.
_COLS = ("direction", "state", "hangup_cause", "start_time", "active_time", "end_time")
_COLS += ("duration", "chargeable_duration", "from_digits", "to_digits", "tag")


def _pg_changed_pairs(compared: tuple[str, ...]) -> str:
    """CTEs of an update's rows whose `compared` columns changed: `pairs` (old and new
    side by side), `oc` and `nc` (the old and the new rows, as _COLS)."""
    return (
        "WITH pairs AS MATERIALIZED (SELECT "
        + ", ".join(f"o.{c} AS o_{c}, n.{c} AS n_{c}" for c in _COLS)
        + " FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE ("
        + ", ".join(f"o.{c}" for c in compared)
        + ") IS DISTINCT FROM ("
        + ", ".join(f"n.{c}" for c in compared)
        + ")), "
        + "oc AS (SELECT "
        + ", ".join(f"o_{c} AS {c}" for c in _COLS)
        + " FROM pairs), nc AS (SELECT "
        + ", ".join(f"n_{c} AS {c}" for c in _COLS)
        + " FROM pairs)"
    )


# The rows of an update whose counted columns changed, old and new.
_PG_CHANGED = _pg_changed_pairs(_COLS)
_PG_UPDATE = (
    f"{_PG_CHANGED}, "
    f"iv AS MATERIALIZED ({_pg_interval('oc')} UNION ALL {_pg_interval('nc')}), "
    "gone AS (DELETE FROM calls_concurrencypeak WHERE slot BETWEEN "
    "(SELECT MIN(lo) FROM iv) AND (SELECT MAX(hi) FROM iv)) "
)
_PG_UPSERT = _PG_APPLY[: _PG_APPLY.index("-- One range per batch")]

# The same, for the rows whose keys themselves changed (a new tag, say): only those can
# bring a key RollupKey does not hold yet. Most updates (a hangup cause read with the
# events) change none, and then insert nothing.
_PG_REKEYED = _pg_changed_pairs(("direction", "from_digits", "to_digits", "tag"))
_PG_KEYED_UPDATE = _PG_KEYS_ADD.format(
    prefix=_PG_REKEYED, deltas=_pg_keyed_delta("nc", 1)
) + _PG_KEYED_APPLY.format(
    prefix=_PG_CHANGED,
    deltas=f"{_pg_keyed_delta('nc', 1)} UNION ALL {_pg_keyed_delta('oc', -1)}",
)

_PG_PLAIN = {
    "insert": _PG_APPLY.format(deltas=_pg_delta("new_rows", 1), intervals=_pg_interval("new_rows")),
    "update": _PG_UPDATE
    + _PG_UPSERT.format(deltas=f"{_pg_delta('nc', 1)} UNION ALL {_pg_delta('oc', -1)}"),
    "delete": _PG_APPLY.format(
        deltas=_pg_delta("old_rows", -1), intervals=_pg_interval("old_rows")
    ),
}
_PG_KEYED = {
    "insert": _PG_KEYS_ADD.format(prefix="", deltas=_pg_keyed_delta("new_rows", 1))
    + _PG_KEYED_APPLY.format(prefix="", deltas=_pg_keyed_delta("new_rows", 1)),
    "update": _PG_KEYED_UPDATE,
    "delete": _PG_KEYED_APPLY.format(prefix="", deltas=_pg_keyed_delta("old_rows", -1)),
}


def _pg_functions(keyed: bool) -> dict[str, str]:
    # Keyed rows first: the lock order every writer keeps (module docstring).
    return {op: (_PG_KEYED[op] if keyed else "") + body for op, body in _PG_PLAIN.items()}


_PG_REFERENCING = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def _postgresql_install(keyed: bool) -> list[str]:
    statements = []
    for op, body in _pg_functions(keyed).items():
        statements.append(
            # No nested loops: a transition table has no statistics, so the planner takes
            # it for one row and would join old and new rows pairwise (500 x 500 for a
            # batch: 60 ms a statement where a hash join takes 1).
            f"CREATE OR REPLACE FUNCTION calls_rollup_{op}() RETURNS trigger "
            f"LANGUAGE plpgsql SET enable_nestloop = off AS $$ BEGIN {body} RETURN NULL; END $$"
        )
        statements.append(f"DROP TRIGGER IF EXISTS calls_rollup_{op} ON calls_call")
        statements.append(
            f"CREATE TRIGGER calls_rollup_{op} AFTER {op.upper()} ON calls_call "
            f"REFERENCING {_PG_REFERENCING[op]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION calls_rollup_{op}()"
        )
    return statements


def _postgresql_remove() -> list[str]:
    statements = []
    for op in _PG_PLAIN:
        statements.append(f"DROP TRIGGER IF EXISTS calls_rollup_{op} ON calls_call")
        statements.append(f"DROP FUNCTION IF EXISTS calls_rollup_{op}()")
    return statements


# --- SQLite -------------------------------------------------------------------------------


def _sqlite_bucket(t: str) -> str:
    # Django stores times as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: cut to the hour and
    # round the minutes down to a quarter. Same text form as a DateTimeField's.
    minute = f"(CAST(substr({t}, 15, 2) AS INTEGER) / 15) * 15"
    return f"(substr({t}, 1, 14) || printf('%02d', {minute}) || ':00')"


def quarter_hour_sql(vendor: str, column: str) -> str:
    """SQL for `column` rounded down to its quarter hour, as the triggers bucket it."""
    if vendor == "postgresql":
        return _PG_BUCKET.format(t=column)
    return _sqlite_bucket(column)


_SQLITE_SUMS = (
    "calls = calls + excluded.calls, answered = answered + excluded.answered, "
    "timed = timed + excluded.timed, talk_seconds = talk_seconds + excluded.talk_seconds, "
    "chargeable_seconds = chargeable_seconds + excluded.chargeable_seconds"
)


def _sqlite_values(row: str, sign: int) -> str:
    """A row's share of its rollup row: calls, answered, timed, talk, chargeable."""
    return (
        f"{sign}, {sign} * ({row}.active_time IS NOT NULL), "
        f"{sign} * ({row}.duration IS NOT NULL), {sign} * COALESCE({row}.duration, 0), "
        f"{sign} * COALESCE({row}.chargeable_duration, 0)"
    )


def _sqlite_add(row: str, sign: int) -> str:
    b = _sqlite_bucket(f"{row}.start_time")
    # An upsert (one look-up of the rollup row), not INSERT OR IGNORE and an UPDATE:
    # inside a trigger the outer statement's conflict policy would override OR IGNORE.
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
    return (
        "INSERT INTO calls_callrollup (bucket, direction, state, hangup_cause, "
        "calls, answered, timed, talk_seconds, chargeable_seconds) "
        f"SELECT {b}, {row}.direction, {row}.state, {row}.hangup_cause, "
        f"{_sqlite_values(row, sign)} WHERE true "
        "ON CONFLICT (bucket, direction, state, hangup_cause) "
        f"DO UPDATE SET {_SQLITE_SUMS};"
    )


def _sqlite_keyed_add(row: str, sign: int) -> str:
    b = _sqlite_bucket(f"{row}.start_time")
    statements = []
    for kind, key in (("own", f"({OWN_DIGITS.format(p=row + '.')})"), ("tag", f"{row}.tag")):
        if sign > 0:
            statements.append(
                "INSERT INTO calls_rollupkey (kind, key, text) "
                f"SELECT '{kind}', {key}, {key} WHERE {key} <> '' "
                "ON CONFLICT (kind, key) DO NOTHING;"
            )
        statements.append(
            "INSERT INTO calls_keyedrollup (kind, key, bucket, direction, state, hangup_cause, "
            "calls, answered, timed, talk_seconds, chargeable_seconds) "
            f"SELECT '{kind}', {key}, {b}, {row}.direction, {row}.state, {row}.hangup_cause, "
            f"{_sqlite_values(row, sign)} WHERE {key} <> '' "
            "ON CONFLICT (kind, key, bucket, direction, state, hangup_cause) "
            f"DO UPDATE SET {_SQLITE_SUMS};"
        )
    return " ".join(statements)


def _sqlite_invalidate(row: str) -> str:
    lo = _sqlite_bucket(f"{row}.start_time")
    hi = _sqlite_bucket(f"COALESCE({row}.end_time, {row}.start_time)")
    return (
        f"DELETE FROM calls_concurrencypeak WHERE slot >= {lo} "
        f"AND ({row}.state IN {LIVE} OR slot <= {hi});"
    )


_ROLLED = (
    "direction",
    "state",
    "hangup_cause",
    "start_time",
    "active_time",
    "end_time",
    "duration",
    "chargeable_duration",
    "from_digits",
    "to_digits",
    "tag",
)


def _sqlite_install(keyed: bool) -> list[str]:
    def keyed_add(row: str, sign: int) -> str:
        return _sqlite_keyed_add(row, sign) if keyed else ""

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _ROLLED)
    moved = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("start_time", "end_time", "state"))
    return [
        *_sqlite_remove(),
        "CREATE TRIGGER calls_rollup_insert AFTER INSERT ON calls_call BEGIN "
        f"{keyed_add('NEW', 1)} {_sqlite_add('NEW', 1)} {_sqlite_invalidate('NEW')} END",
        f"CREATE TRIGGER calls_rollup_update AFTER UPDATE OF {', '.join(_ROLLED)} "
        f"ON calls_call WHEN {changed} BEGIN "
        f"{keyed_add('OLD', -1)} {keyed_add('NEW', 1)} "
        f"{_sqlite_add('OLD', -1)} {_sqlite_add('NEW', 1)} END",
        "CREATE TRIGGER calls_rollup_moved AFTER UPDATE OF start_time, end_time, state "
        f"ON calls_call WHEN {moved} BEGIN "
        f"{_sqlite_invalidate('OLD')} {_sqlite_invalidate('NEW')} END",
        "CREATE TRIGGER calls_rollup_delete AFTER DELETE ON calls_call BEGIN "
        f"{keyed_add('OLD', -1)} {_sqlite_add('OLD', -1)} {_sqlite_invalidate('OLD')} END",
    ]


def _sqlite_remove() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS calls_rollup_{name}"
        for name in ("insert", "update", "moved", "delete")
    ]


def install(connection, *, keyed: bool = True) -> None:
    """Create (or replace) the triggers; `keyed=False` leaves KeyedRollup out (the
    migration that comes before its tables exist)."""
    if connection.vendor == "postgresql":
        statements = _postgresql_install(keyed)
    else:
        statements = _sqlite_install(keyed)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def remove(connection) -> None:
    statements = _postgresql_remove() if connection.vendor == "postgresql" else _sqlite_remove()
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def rebuild(connection, *, keyed: bool = True) -> None:
    """Recount every rollup from the calls and empty the peak cache (the rebuild command,
    and the migration that adds the rollups to a database that already holds calls)."""
    if connection.vendor == "postgresql":
        bucket = _PG_BUCKET.format(t="start_time")
    else:
        bucket = _sqlite_bucket("start_time")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Writers wait until the recount commits: one that added a row to a bucket
            # meanwhile would collide with the recount's plain INSERT.
            cursor.execute("LOCK TABLE calls_call IN SHARE MODE")
        # TRUNCATE on PostgreSQL: a DELETE would leave every old row dead until a vacuum,
        # and the overview's range scans would wade through them (calls are locked
        # anyway; readers of the rollups wait a moment for the recount instead).
        empty = "TRUNCATE {}" if connection.vendor == "postgresql" else "DELETE FROM {}"
        cursor.execute(empty.format("calls_concurrencypeak"))
        cursor.execute(empty.format("calls_callrollup"))
        cursor.execute(
            "INSERT INTO calls_callrollup (bucket, direction, state, hangup_cause, calls, "
            "answered, timed, talk_seconds, chargeable_seconds) "
            f"SELECT {bucket}, direction, state, hangup_cause, COUNT(*), COUNT(active_time), "
            "COUNT(duration), COALESCE(SUM(duration), 0), COALESCE(SUM(chargeable_duration), 0) "
            f"FROM calls_call GROUP BY {bucket}, direction, state, hangup_cause"
        )
        if keyed:
            cursor.execute(empty.format("calls_keyedrollup"))
            _rebuild_keyed(cursor, connection.vendor, bucket)
        if connection.vendor == "postgresql":
            # Fresh statistics: the planner would otherwise take the new tables for the
            # old ones (or for empty) until autovacuum comes by.
            tables = ["calls_callrollup"] + (
                ["calls_keyedrollup", "calls_rollupkey"] if keyed else []
            )
            for table in tables:
                cursor.execute(f"ANALYZE {table}")


def _rebuild_keyed(cursor, vendor: str, bucket: str) -> None:
    own = OWN_DIGITS.format(p="")
    tag_key = _PG_TAG_KEY if vendor == "postgresql" else "tag"
    keyed = (
        f"SELECT {bucket} AS bucket, 'own' AS kind, {own} AS key, {own} AS text, direction, "
        f"state, hangup_cause, active_time, duration, chargeable_duration FROM calls_call "
        f"WHERE {own} <> '' UNION ALL SELECT {bucket}, 'tag', {tag_key}, tag, direction, "
        "state, hangup_cause, active_time, duration, chargeable_duration FROM calls_call "
        "WHERE tag <> ''"
    )
    # WHERE true: SQLite's parser needs it between a SELECT and ON CONFLICT.
    cursor.execute(
        "INSERT INTO calls_rollupkey (kind, key, text) SELECT kind, key, MIN(text) "
        f"FROM ({keyed}) AS k WHERE true GROUP BY kind, key ON CONFLICT (kind, key) DO NOTHING"
    )
    cursor.execute(
        "INSERT INTO calls_keyedrollup (kind, key, bucket, direction, state, hangup_cause, "
        "calls, answered, timed, talk_seconds, chargeable_seconds) "
        "SELECT kind, key, bucket, direction, state, hangup_cause, COUNT(*), COUNT(active_time), "
        "COUNT(duration), COALESCE(SUM(duration), 0), COALESCE(SUM(chargeable_duration), 0) "
        f"FROM ({keyed}) AS k GROUP BY kind, key, bucket, direction, state, hangup_cause"
    )

"""Set-based writes for the sync's hot path: rows as dicts, no model instance per row.

`bulk_create` builds a model instance and runs every field's full preparation for each
value, and on PostgreSQL psycopg then adapts the values one by one in Python; at a
backfill's volume (hundreds of thousands of events) that cost more than the database's
own work. Here only times and JSON are prepared, and the rows reach the database by the
cheapest way each one has:

- PostgreSQL: COPY into a temporary staging table (psycopg formats COPY rows in C), then
  one `INSERT ... SELECT ... ON CONFLICT` or `UPDATE ... FROM` into the real table (the
  database role needs the TEMPORARY privilege, which PostgreSQL grants by default);
- SQLite, and PostgreSQL for a few rows: `executemany` of a one-row statement, which
  sqlite3 runs in C.

Inserts are upserts keyed on a unique constraint, so a row written twice, or by two
writers at once, ends the same. All rows of one call must have the same keys (field
names or attnames such as `call_id`) and include every column without a database
default: model defaults are not applied here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models, transaction

# Below this many rows PostgreSQL gets the plain statements too: one call refreshed by a
# callback or an operator is not worth three staging statements.
STAGE_FROM_ROWS = 50


def insert(
    model: type[models.Model],
    rows: Sequence[dict],
    *,
    unique: Sequence[str],
    update: Sequence[str] = (),
    update_where: str = "",
) -> int:
    """Insert rows; where `unique` matches a stored row, set its `update` columns instead
    (or leave the stored row alone when `update` is empty). `update_where` is an SQL
    condition (on the table's columns and `excluded.`) an update must meet. Returns the
    rows written."""
    if not rows:
        return 0
    if update:
        rows = _last_per_key(rows, unique)
    names = list(rows[0])
    meta = model._meta
    columns = ", ".join(_quote(meta.get_field(name).column) for name in names)
    conflict = ", ".join(_quote(meta.get_field(name).column) for name in unique)
    if update:
        targets = [_quote(meta.get_field(name).column) for name in update]
        action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in targets)
        if update_where:
            action += f" WHERE {update_where}"
    else:
        action = "DO NOTHING"
    table = _quote(meta.db_table)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        into, on_conflict = f"INSERT INTO {table} ({columns})", f"ON CONFLICT ({conflict}) {action}"
        if _staged(rows):
            stage = _pg_stage(cursor, model, names, rows)
            cursor.execute(f"{into} SELECT {columns} FROM {stage} {on_conflict}")  # noqa: S608
        else:
            marks = ", ".join(["%s"] * len(names))
            cursor.executemany(
                f"{into} VALUES ({marks}) {on_conflict}", _tuples(model, names, rows)
            )
        return cursor.rowcount


def update(model: type[models.Model], rows: Sequence[dict]) -> int:
    """Set each row's columns on the stored row whose primary key is the row's `pk`
    (the last row wins where one key comes twice)."""
    if not rows:
        return 0
    rows = _last_per_key(rows, ["pk"])
    meta = model._meta
    names = [name for name in rows[0] if name != "pk"]
    table = _quote(meta.db_table)
    pk = _quote(meta.pk.column)
    targets = [_quote(meta.get_field(name).column) for name in names]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if _staged(rows):
            stage = _pg_stage(cursor, model, [meta.pk.name, *names], rows, pk_key="pk")
            sets = ", ".join(f"{c} = s.{c}" for c in targets)
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM {stage} AS s WHERE {table}.{pk} = s.{pk}"  # noqa: S608
            )
        else:
            sets = ", ".join(f"{c} = %s" for c in targets)
            values = _tuples(model, names, rows)
            params = [(*vals, row["pk"]) for vals, row in zip(values, rows, strict=True)]
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE {pk} = %s", params)  # noqa: S608
        return cursor.rowcount


def _staged(rows: Sequence[dict]) -> bool:
    return connection.vendor == "postgresql" and len(rows) >= STAGE_FROM_ROWS


def _pg_stage(cursor, model, names, rows, pk_key: str | None = None) -> str:
    """COPY rows into a temporary table shaped like these columns of the model's table.

    The table lives as long as the connection and is emptied at each commit (and at each
    use), so the caller must stay in one transaction from the COPY to its use.
    """
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    columns = [_quote(field.column) for field in fields]
    # Named after the columns and their types: a migration that changes either gets a new
    # staging table, not a stale one kept by a long-lived connection.
    shape_key = ",".join(f"{field.column} {field.db_type(connection)}" for field in fields)
    stage = _quote(f"stage_{meta.db_table}_{zlib.crc32(shape_key.encode()):08x}")
    shape = f"SELECT {', '.join(columns)} FROM {_quote(meta.db_table)} WITH NO DATA"  # noqa: S608
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS {shape}")
    # Empty already unless an earlier call wrote to it in this same transaction.
    cursor.execute(f"DELETE FROM {stage}")  # noqa: S608
    keys = [pk_key if name == meta.pk.name and pk_key else name for name in names]
    preps = [_prep(field) for field in fields]
    with cursor.cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([prep(row[key]) for prep, key in zip(preps, keys, strict=True)])
    return stage


def _tuples(model, names, rows) -> list[tuple]:
    preps = [_prep(model._meta.get_field(name)) for name in names]
    return [tuple(prep(row[name]) for prep, name in zip(preps, names, strict=True)) for row in rows]


def _last_per_key(rows: Sequence[dict], unique: Sequence[str]) -> list[dict]:
    # PostgreSQL refuses to update one row twice in a statement; the last word wins.
    by_key = {tuple(row[name] for name in unique): row for row in rows}
    return list(by_key.values()) if len(by_key) < len(rows) else list(rows)


def _prep(field: models.Field) -> Callable[[Any], Any]:
    """What turns a value of this field into what the driver takes.

    The sync hands over values of the right Python type already (payloads.py checks
    them), so text, numbers and booleans go as they are.
    """
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if kind == "JSONField":
        return _json  # SQL NULL for None, as JSONField(null=True) stores it
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    if kind in _PASS_THROUGH:
        return _same
    return lambda value: field.get_db_prep_save(value, connection)


_PASS_THROUGH = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "IntegerField",
    "PositiveIntegerField",
    "TextField",
}


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _same(value: Any) -> Any:
    return value


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)

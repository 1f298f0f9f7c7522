"""Number-search indexes that only PostgreSQL has: trigram for "contains" and pattern
b-trees for "starts with" (and "ends with", through the reversed digits). SQLite runs the
same queries without them (its scale is a demo's).

They are not in Call.Meta because they exist on one backend only.
"""

from django.db import migrations

INDEXES = {
    # Calls page, number "contains" search: LIKE '%5550%' on either party.
    "call_from_digits_trgm": "USING gin (from_digits gin_trgm_ops)",
    "call_to_digits_trgm": "USING gin (to_digits gin_trgm_ops)",
    # Calls page, "starts with": LIKE '1919%' needs pattern ops under a non-C collation.
    "call_from_digits_prefix": "(from_digits varchar_pattern_ops)",
    "call_to_digits_prefix": "(to_digits varchar_pattern_ops)",
    # Calls page, "ends with" (and any full number typed): prefix of the reversed digits.
    "call_from_rev_prefix": "(from_digits_rev varchar_pattern_ops)",
    "call_to_rev_prefix": "(to_digits_rev varchar_pattern_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON calls_call {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("calls", "0004_number_search_indexes")]
    operations = [migrations.RunPython(create, drop)]

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_role_groups(sender, using="default", **kwargs):
    from django.db import connections

    from calls.roles import ensure_groups

    # Unapplying migrations also ends in post_migrate; there may be no auth tables then.
    if "auth_group" in connections[using].introspection.table_names():
        ensure_groups()


def _install_rollup_triggers(sender, using="default", **kwargs):
    from django.db import connections

    from calls.analytics import triggers

    # SQLite rebuilds a table to alter it, dropping its triggers: after any migration
    # they are put back (idempotent; the same statements the rollups migration ran).
    connection = connections[using]
    if "calls_keyedrollup" in connection.introspection.table_names():
        triggers.install(connection)


class CallsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "calls"

    def ready(self):
        # Permissions exist only after migrate, so the role groups are made then.
        post_migrate.connect(_create_role_groups, sender=self)
        post_migrate.connect(_install_rollup_triggers, sender=self)

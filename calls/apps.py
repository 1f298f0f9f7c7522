from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_role_groups(sender, **kwargs):
    from calls.roles import ensure_groups

    ensure_groups()


class CallsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "calls"

    def ready(self):
        # Permissions exist only after migrate, so the role groups are made then.
        post_migrate.connect(_create_role_groups, sender=self)

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alert rules, their lifecycle and deliveries, and saved views of the calls list.

    An app of its own (label "alerts") so its migrations never interleave with the
    calls app's.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "calls.alerts"
    label = "alerts"
    verbose_name = "Alerts and saved views"

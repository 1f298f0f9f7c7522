from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    # Its own app (and migrations), so its schema changes never collide with the calls app's.
    name = "calls.recordings"
    label = "recordings"
    verbose_name = "Recordings"
    default_auto_field = "django.db.models.BigAutoField"

from django.contrib import admin

from calls.admin import ReadOnlyAdmin
from calls.recordings.models import PlaybackSettings, Recording


@admin.register(PlaybackSettings)
class PlaybackSettingsAdmin(admin.ModelAdmin):
    """One row: who may listen. It cannot be deleted, and a second one cannot be added."""

    list_display = ("__str__", "viewers_may_listen")

    def has_add_permission(self, request):
        return not PlaybackSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        PlaybackSettings.get()  # the row exists before anyone looks for it
        return super().changelist_view(request, extra_context)


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    list_display = ("catapult_id", "call_catapult_id", "state", "start_time", "duration")
    list_filter = ("state",)
    search_fields = ("catapult_id", "call_catapult_id")

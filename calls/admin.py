from django.contrib import admin

from calls.models import Call, CallEvent, SyncRun


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("catapult_id", "direction", "from_number", "to_number", "state", "start_time")
    list_filter = ("state", "direction")
    search_fields = ("catapult_id", "from_number", "to_number")
    readonly_fields = [f.name for f in Call._meta.fields]
    show_full_result_count = False  # no COUNT(*) over a table of millions


@admin.register(CallEvent)
class CallEventAdmin(admin.ModelAdmin):
    list_display = ("catapult_id", "call", "name", "time", "data")
    raw_id_fields = ("call",)
    show_full_result_count = False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "outcome",
        "pages",
        "api_requests",
        "calls_created",
        "calls_updated",
        "events_stored",
        "error",
    )
    list_filter = ("outcome",)

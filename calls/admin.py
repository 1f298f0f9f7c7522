from django.contrib import admin

from calls.models import AuditEntry, Call, CallbackEvent, CallEvent, SyncRun


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
        "warnings",
        "rate_limited",
        "error",
    )
    list_filter = ("outcome",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """An audit trail: visible to admins, changed by nobody (not even through the admin)."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "username", "action", "call_catapult_id", "outcome", "api_status")
    list_filter = ("outcome", "action")
    search_fields = ("username", "call_catapult_id")
    date_hierarchy = "at"


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_type", "call_catapult_id", "processed_at", "error")
    list_filter = ("event_type",)
    search_fields = ("call_catapult_id",)
    exclude = ("digest",)

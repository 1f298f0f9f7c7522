from django.urls import path, register_converter

from calls import stream, views
from calls.analytics import views as analytics_views
from calls.converters import CatapultIdConverter

register_converter(CatapultIdConverter, "cid")

app_name = "calls"
urlpatterns = [
    path("", views.call_list, name="list"),
    path("overview/", analytics_views.overview, name="overview"),
    path("calls/export.csv", views.call_export, name="export"),
    path("calls/<cid:catapult_id>/", views.call_detail, name="detail"),
    path("calls/<cid:catapult_id>/recordings/", views.call_recordings, name="recordings"),
    path("calls/<cid:catapult_id>/refresh/", views.call_refresh, name="refresh"),
    path("calls/<cid:catapult_id>/actions/<str:name>/", views.call_action, name="action"),
    path("numbers/<str:number>/", views.number_detail, name="number"),
    path("place/", views.place_call, name="place"),
    path("audit/", views.audit_list, name="audit"),
    path("status/", views.status_line, name="status"),
    path("sync/", views.sync_page, name="sync"),
    path("stream/", stream.call_stream, name="stream"),
    path("ringing/", views.ringing_strip, name="ringing"),
    path("callbacks/catapult/", views.catapult_callback, name="callback"),
]

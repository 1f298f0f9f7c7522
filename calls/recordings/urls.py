from django.urls import path

from calls.recordings import views

# `cid` (a Catapult id) is registered by calls.urls, which dashboard.urls includes first.
app_name = "recordings"
urlpatterns = [
    path("recordings/", views.recording_list, name="list"),
    path("recordings/<cid:catapult_id>/media/", views.recording_media, name="media"),
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from calls import ops

urlpatterns = [
    path("", include("calls.urls")),
    path("", include("calls.recordings.urls")),
    path("", include("calls.alerts.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("health/live", ops.live, name="health-live"),
    path("health/ready", ops.ready, name="health-ready"),
    path("metrics", ops.prometheus, name="metrics"),
]

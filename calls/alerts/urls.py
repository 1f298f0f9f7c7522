from django.urls import path

from calls.alerts import views

app_name = "alerts"
urlpatterns = [
    path("alerts/", views.rule_list, name="rules"),
    path("alerts/history/", views.history, name="history"),
    path("alerts/rules/new/", views.rule_create, name="create"),
    path("alerts/rules/<int:pk>/edit/", views.rule_edit, name="edit"),
    path("alerts/rules/<int:pk>/delete/", views.rule_delete, name="delete"),
    path("alerts/rules/<int:pk>/ack/", views.rule_ack, name="ack"),
    path("alerts/rules/<int:pk>/silence/", views.rule_silence, name="silence"),
    path("alerts/rules/<int:pk>/unsilence/", views.rule_unsilence, name="unsilence"),
    path("views/", views.view_list, name="views"),
    path("views/save/", views.view_save, name="view-save"),
    path("views/<int:pk>/delete/", views.view_delete, name="view-delete"),
]

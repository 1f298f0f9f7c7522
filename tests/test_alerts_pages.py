"""Alerts pages: every URL x role x method, CSRF, bad input (400, never a 500), saved views."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls.alerts import evaluate, metrics
from calls.alerts.models import Alert, Rule, SavedView
from calls.roles import ADMIN, OPERATOR, VIEWER
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(django_user_model):
    return {
        role: make_user(django_user_model, f"{role}-user", role)
        for role in (VIEWER, OPERATOR, ADMIN)
    }


def make_rule(**fields) -> Rule:
    now = timezone.now()
    values = {
        "name": "Stuck calls",
        "metric": "stuck_calls",
        "param": 4,
        "op": "above",
        "threshold": 0,
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    return Rule.objects.create(**values)


def firing_rule() -> Rule:
    rule = make_rule()
    alert = Alert.objects.create(
        rule=rule,
        rule_name=rule.name,
        condition=rule.describe(),
        started_at=timezone.now(),
        value=1,
        next_reminder_at=timezone.now() + timedelta(minutes=15),
    )
    rule.alert, rule.state = alert, Rule.State.FIRING
    rule.save()
    return rule


VALID_RULE = {
    "name": "ASR low",
    "enabled": "on",
    "metric": "asr",
    "param": "20",
    "window_minutes": "60",
    "compare": "value",
    "op": "below",
    "threshold": "50",
    "hold_minutes": "5",
    "time_zone": "Europe/Paris",
}


def test_role_url_method_matrix(users):
    """(name, args, GET codes, POST codes) for anonymous, viewer, operator, admin."""
    failures = []
    for role_index, role in enumerate([None, VIEWER, OPERATOR, ADMIN]):
        rule = firing_rule()
        view = SavedView.objects.create(
            name=f"v{role_index}",
            query="direction=in",
            owner=users[ADMIN],
            shared=True,
            created_at=timezone.now(),
        )
        matrix = [
            ("alerts:rules", [], (302, 200, 200, 200), (405, 405, 405, 405)),
            ("alerts:history", [], (302, 200, 200, 200), (405, 405, 405, 405)),
            ("alerts:views", [], (302, 200, 200, 200), (405, 405, 405, 405)),
            ("alerts:create", [], (302, 403, 403, 200), (302, 403, 403, 302)),
            ("alerts:edit", [rule.pk], (302, 403, 403, 200), (302, 403, 403, 302)),
            ("alerts:ack", [rule.pk], (405, 405, 405, 405), (302, 403, 200, 200)),
            ("alerts:silence", [rule.pk], (405, 405, 405, 405), (302, 403, 200, 200)),
            ("alerts:unsilence", [rule.pk], (405, 405, 405, 405), (302, 403, 200, 200)),
            ("alerts:view-save", [], (405, 405, 405, 405), (302, 200, 200, 200)),
            ("alerts:view-delete", [view.pk], (405, 405, 405, 405), (302, 403, 403, 302)),
            ("alerts:delete", [rule.pk], (405, 405, 405, 405), (302, 403, 403, 302)),
        ]
        client = Client()
        if role:
            client.force_login(users[role])
        for name, args, get_codes, post_codes in matrix:
            url = reverse(name, args=args)
            got_get = client.get(url).status_code
            body = {**VALID_RULE, "minutes": "60", "name": f"{name} {role_index}", "query": ""}
            got_post = client.post(
                url, body, headers={"HX-Request": "true"} if "view-save" in name else {}
            ).status_code
            if (got_get, got_post) != (get_codes[role_index], post_codes[role_index]):
                failures.append(
                    f"{name} as {role}: GET {got_get} POST {got_post}, expected "
                    f"{get_codes[role_index]}/{post_codes[role_index]}"
                )
    assert not failures, "\n".join(failures)


def test_posts_need_a_csrf_token(users):
    rule = firing_rule()
    client = Client(enforce_csrf_checks=True)
    client.force_login(users[OPERATOR])
    assert client.post(reverse("alerts:ack", args=[rule.pk])).status_code == 403
    rule.alert.refresh_from_db()
    assert rule.alert.acked_at is None
    client.force_login(users[ADMIN])
    assert client.post(reverse("alerts:create"), VALID_RULE).status_code == 403
    assert not Rule.objects.filter(name="ASR low").exists()


def test_acknowledge_and_silence_return_the_row_and_record_who(users):
    rule = firing_rule()
    client = Client()
    client.force_login(users[OPERATOR])
    response = client.post(reverse("alerts:ack", args=[rule.pk]), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith(f'<tr id="rule-{rule.pk}"')
    assert "Acknowledged by operator-user" in body and "<html" not in body
    alert = Alert.objects.get(pk=rule.alert_id)
    assert alert.acked_by == "operator-user" and alert.acked_at is not None
    response = client.post(reverse("alerts:silence", args=[rule.pk]), {"minutes": "240"})
    rule.refresh_from_db()
    assert rule.silenced_by == "operator-user"
    assert timedelta(minutes=239) < rule.silenced_until - timezone.now() <= timedelta(minutes=240)
    assert "Silenced by operator-user until" in response.content.decode()
    assert (
        client.post(reverse("alerts:silence", args=[rule.pk]), {"minutes": "7"}).status_code == 400
    )
    client.post(reverse("alerts:unsilence", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.silenced_until is None


def test_admin_creates_a_rule_from_a_template_and_bad_input_is_a_400(users):
    client = Client()
    client.force_login(users[ADMIN])
    page = client.get(reverse("alerts:create") + "?template=no_calls").content.decode()
    assert 'value="08:00"' in page and 'value="18:00"' in page
    assert client.post(reverse("alerts:create"), VALID_RULE).status_code == 302
    rule = Rule.objects.get(name="ASR low")
    assert rule.created_by == "admin-user" and rule.time_zone == "Europe/Paris"
    bad_inputs = [
        {"window_minutes": "2"},
        {"window_minutes": "2000"},
        {"threshold": "nan"},
        {"threshold": "1e400"},
        {"metric": "nope"},
        {"compare": "last_week", "metric": "sync_lag"},
        {"metric": "sync_lag", "tag": "x"},
        {"time_zone": "Mars/Olympus"},
        {"emails": "not-an-address"},
        {"webhook_url": "ftp://example.com/hook"},
        {"webhook_url": "https://user:pw@example.com/hook"},
        {"webhook_url": "https://example.com/hook", "webhook_secret_env": "SECRET_KEY"},
        {
            "webhook_url": "https://example.com/hook",
            "webhook_secret_env": "ALERT_WEBHOOK_SECRET_NOT_SET",
        },
        {"active_from": "08:00"},
        {"number": "\x00\x01"},
        {"webhook_url": "http://127.0.0.1:8000/hook"},
        {"webhook_url": "http://localhost/hook"},
        {"webhook_url": "http://[::1]/hook"},
        {"webhook_url": "http://169.254.169.254/latest/meta-data/"},
        {"webhook_url": "http://10.0.0.7/hook"},
    ]
    for change in bad_inputs:
        response = client.post(reverse("alerts:create"), {**VALID_RULE, **change, "name": "bad"})
        assert response.status_code == 400, change
        assert "The rule was not saved" in response.content.decode()
    assert not Rule.objects.filter(name="bad").exists()
    response = client.post(
        reverse("alerts:edit", args=[rule.pk]), {**VALID_RULE, "threshold": "40"}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 40


def test_webhook_secret_is_named_never_shown(users, settings):
    settings.ALERT_WEBHOOK_SECRETS = {"ALERT_WEBHOOK_SECRET_OPS": "s3cret-value-never-shown"}
    client = Client()
    client.force_login(users[ADMIN])
    data = {
        **VALID_RULE,
        "webhook_url": "https://hooks.example.com/services/T0K3N",
        "webhook_secret_env": "ALERT_WEBHOOK_SECRET_OPS",
    }
    assert client.post(reverse("alerts:create"), data).status_code == 302
    rule = Rule.objects.get(name="ASR low")
    assert rule.webhook_secret_env == "ALERT_WEBHOOK_SECRET_OPS"
    for url in (reverse("alerts:rules"), reverse("alerts:edit", args=[rule.pk])):
        assert "s3cret-value-never-shown" not in client.get(url).content.decode()
    listing = client.get(reverse("alerts:rules")).content.decode()
    assert "hooks.example.com" in listing and "T0K3N" not in listing


def test_saved_view_from_the_calls_list_is_validated_and_listed_in_the_nav(users):
    client = Client()
    client.force_login(users[VIEWER])
    page = client.get(reverse("calls:list") + "?direction=in&state=live").content.decode()
    assert 'name="query" value="direction=in&amp;state=live"' in page
    response = client.post(
        reverse("alerts:view-save"),
        {"name": "Inbound live", "query": "direction=in&state=live&before=&q="},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "Saved “Inbound live”" in response.content.decode()
    view = SavedView.objects.get(name="Inbound live")
    assert view.query == "direction=in&state=live" and not view.shared
    nav = client.get(reverse("alerts:rules")).content.decode()
    assert 'href="/?direction=in&amp;state=live">Inbound live</a>' in nav
    # Invalid filters, a duplicate name, sharing as a viewer: 400 with the reason.
    for data, reason in [
        ({"name": "Bad", "query": "min_duration=-4"}, "not valid"),
        ({"name": "Inbound live", "query": ""}, "already have a view"),
        ({"name": "Mine", "query": "", "shared": "on"}, "Only operators and admins share"),
        ({"name": "", "query": ""}, "This field is required"),
    ]:
        response = client.post(reverse("alerts:view-save"), data, headers={"HX-Request": "true"})
        assert response.status_code == 400 and reason in response.content.decode(), data
    # Someone else's personal view is invisible in their nav and not theirs to delete.
    other = Client()
    other.force_login(users[OPERATOR])
    assert "Inbound live" not in other.get(reverse("alerts:rules")).content.decode()
    assert other.post(reverse("alerts:view-delete", args=[view.pk])).status_code == 404


def test_nav_costs_one_query_and_fragments_none(users, django_assert_max_num_queries):
    client = Client()
    client.force_login(users[VIEWER])
    client.get(reverse("alerts:views"))
    with django_assert_max_num_queries(50) as captured:
        client.get(reverse("calls:status"))
    assert not any("alerts_savedview" in q["sql"] for q in captured.captured_queries)
    with django_assert_max_num_queries(50) as captured:
        client.get(reverse("calls:sync"))
    assert sum("alerts_savedview" in q["sql"] for q in captured.captured_queries) == 1


def test_make_a_rule_from_a_view(users):
    admin = users[ADMIN]
    view = SavedView.objects.create(
        name="Sales inbound",
        query="direction=in&tag=sales&period=24h",
        owner=admin,
        shared=True,
        created_at=timezone.now(),
    )
    client = Client()
    client.force_login(admin)
    form = client.get(reverse("alerts:create") + f"?view={view.pk}").content.decode()
    assert f'<option value="{view.pk}" selected>' in form
    data = {
        **VALID_RULE,
        "name": "Sales calls",
        "metric": "call_count",
        "view": str(view.pk),
        "param": "",
        "op": "below",
        "threshold": "1",
        "hold_minutes": "0",
    }
    assert client.post(reverse("alerts:create"), data).status_code == 302
    rule = Rule.objects.get(name="Sales calls")
    # Copied without its time range: the rule's window says when.
    assert rule.view_name == "Sales inbound" and rule.view_query == "direction=in&tag=sales"
    view.delete()  # the rule keeps its copy of the filters
    evaluate.run(timezone.now())
    rule.refresh_from_db()
    assert rule.state == Rule.State.FIRING and "view “Sales inbound”" in rule.scope_words()


def test_history_page_and_bad_cursor(users):
    rule = firing_rule()
    client = Client()
    client.force_login(users[VIEWER])
    body = client.get(reverse("alerts:history")).content.decode()
    assert f'id="alert-{rule.alert_id}"' in body and "Still firing" in body
    assert client.get(reverse("alerts:history") + "?before=garbage").status_code == 400
    partial = client.get(reverse("alerts:history"), headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode()


@pytest.mark.parametrize("value", ["²", "9" * 5000, "0", "-3", str(2**63), "12abc", "١٢"])
def test_history_rule_that_is_no_rule_number_is_a_400_never_a_500(users, value):
    rule = firing_rule()
    client = Client()
    client.force_login(users[VIEWER])
    response = client.get(reverse("alerts:history"), {"rule": value})
    if value == "١٢":  # Arabic-Indic digits are the number 12: no such rule, no alert
        assert response.status_code == 200
        assert f'id="alert-{rule.alert_id}"' not in response.content.decode()
        return
    assert response.status_code == 400
    body = response.content.decode()
    assert 'role="alert"' in body and "showing every rule" in body
    assert f'id="alert-{rule.alert_id}"' in body  # everyone's history, as it says


def test_history_of_one_rule(users):
    rule, other = firing_rule(), firing_rule()
    client = Client()
    client.force_login(users[VIEWER])
    response = client.get(reverse("alerts:history"), {"rule": str(rule.pk)})
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="alert-{rule.alert_id}"' in body and f'id="alert-{other.alert_id}"' not in body
    assert f"?rule={rule.pk}" in body  # the refresh keeps the filter


@pytest.mark.parametrize("value", ["²", "9" * 5000, str(2**63), "-1", "x"])
def test_rule_form_ignores_a_view_that_is_no_view_number(users, value):
    client = Client()
    client.force_login(users[ADMIN])
    response = client.get(reverse("alerts:create"), {"view": value})
    assert response.status_code == 200
    assert "<form" in response.content.decode()


def test_a_view_copied_into_a_rule_drops_the_viewers_weekday_and_hour(users):
    admin = users[ADMIN]
    view = SavedView.objects.create(
        name="Monday mornings",
        query="direction=in&weekday=1&hour=9&period=24h",
        owner=admin,
        created_at=timezone.now(),
    )
    client = Client()
    client.force_login(admin)
    data = {
        **VALID_RULE,
        "name": "Inbound",
        "metric": "call_count",
        "view": str(view.pk),
        "param": "",
        "op": "below",
        "threshold": "1",
        "hold_minutes": "0",
    }
    assert client.post(reverse("alerts:create"), data).status_code == 302
    rule = Rule.objects.get(name="Inbound")
    assert rule.view_query == "direction=in"
    # A rule copied before keeps them in its query; the evaluation ignores them too.
    form = metrics.view_form("direction=in&weekday=1&hour=9")
    assert form.cleaned_data["weekday"] is None and form.cleaned_data["hour"] is None


def test_deleting_a_firing_rule_tells_its_receivers_it_ended(users):
    now = timezone.now()
    rule = make_rule(
        name="Always",
        metric="call_count",
        param=None,
        window_minutes=5,
        threshold=-1,
        emails="oncall@example.com",
    )
    evaluate.run(now)
    rule.refresh_from_db()
    assert rule.firing
    alert_id = rule.alert_id
    client = Client()
    client.force_login(users[ADMIN])
    assert client.post(reverse("alerts:delete", args=[rule.pk])).status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    alert = Alert.objects.get(pk=alert_id)
    assert alert.resolved_at is not None and alert.rule_name == "Always"
    kinds = list(alert.deliveries.order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds == ["firing", "resolved"]
    resolved = alert.deliveries.get(kind="resolved")
    assert resolved.payload["state"] == "resolved" and resolved.status == "pending"
    assert resolved.payload["summary"].startswith("[RESOLVED] Always")
    assert client.post(reverse("alerts:delete", args=[rule.pk])).status_code == 404


def test_deleting_a_rule_that_never_notified_sends_nothing(users):
    rule = firing_rule()  # no destination: nobody was told it fired
    client = Client()
    client.force_login(users[ADMIN])
    assert client.post(reverse("alerts:delete", args=[rule.pk])).status_code == 302
    alert = Alert.objects.get(rule_name=rule.name)
    assert alert.resolved_at is not None and not alert.deliveries.exists()


def test_a_local_webhook_is_saved_only_when_its_host_is_allowed(users, settings):
    settings.ALERT_WEBHOOK_SECRETS = {"ALERT_WEBHOOK_SECRET": "s3cret"}
    client = Client()
    client.force_login(users[ADMIN])
    data = {**VALID_RULE, "name": "Local hook", "webhook_url": "http://127.0.0.1:9000/hook"}
    refused = client.post(reverse("alerts:create"), data)
    assert refused.status_code == 400
    assert "ALERT_WEBHOOK_ALLOW_HOSTS" in refused.content.decode()
    settings.ALERT_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    assert client.post(reverse("alerts:create"), data).status_code == 302
    assert Rule.objects.get(name="Local hook").webhook_secret_env == "ALERT_WEBHOOK_SECRET"

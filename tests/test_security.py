"""Security: deploy checks, roles x URLs x methods, CSRF, login throttling, no leaked secrets."""

import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import reverse

from calls import sync
from calls.catapult import CatapultClient
from calls.models import AuditEntry, CallbackEvent, SyncRun
from calls.roles import ADMIN, OPERATOR, VIEWER, assign_role

pytestmark = pytest.mark.django_db


def test_deploy_checks_are_clean_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CATAPULT_")},
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "HTTPS": "true",
        "ALLOWED_HOSTS": "dashboard.example.com",
        "CATAPULT_USER_ID": "u-prod",
        "CATAPULT_API_TOKEN": "t-prod",
        "CATAPULT_API_SECRET": "s-prod",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def users(django_user_model):
    made = {}
    for role in (VIEWER, OPERATOR, ADMIN):
        user = django_user_model.objects.create_user(f"{role}-user", password="pw-for-tests-1")
        assign_role(user, role)
        made[role] = user
    return made


@pytest.fixture
def live_call(sim, catapult_settings):
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    return call_id


# (path name, args, GET statuses, POST statuses) per role: anonymous, viewer, operator, admin.
# Redirects to the login page are 302; refused actions are 403; wrong methods 405.
def _matrix(call_id):
    number = "+19195550100"
    return [
        ("calls:list", [], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:export", [], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:detail", [call_id], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:recordings", [call_id], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:refresh", [call_id], (405, 405, 405, 405), (302, 200, 200, 200)),
        ("calls:action", [call_id, "record_on"], (405, 405, 405, 405), (302, 403, 200, 200)),
        ("calls:number", [number], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:place", [], (302, 200, 200, 200), (302, 403, 400, 400)),
        ("calls:audit", [], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:status", [], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:sync", [], (302, 200, 200, 200), (405, 405, 405, 405)),
        ("calls:ringing", [], (302, 200, 200, 200), (405, 405, 405, 405)),
        # EventSource cannot follow a login redirect: 401. Under the WSGI test server the
        # stream answers 204 (no streaming there).
        ("calls:stream", [], (401, 204, 204, 204), (405, 405, 405, 405)),
        ("health-live", [], (200, 200, 200, 200), (405, 405, 405, 405)),
        ("metrics", [], (404, 404, 404, 404), (405, 405, 405, 405)),
        ("calls:callback", [], (401, 401, 401, 401), (401, 401, 401, 401)),
        ("admin:index", [], (302, 302, 302, 200), (302, 302, 302, 200)),
        ("login", [], (200, 200, 200, 200), (200, 200, 200, 200)),
    ]


def test_role_url_method_matrix(users, live_call, sim):
    roles = [None, VIEWER, OPERATOR, ADMIN]
    failures = []
    for name, args, get_codes, post_codes in _matrix(live_call):
        for role, get_code, post_code in zip(roles, get_codes, post_codes, strict=True):
            if name == "calls:action":  # each role acts on a call of its own
                fresh = sim.create_inbound_call(auto_answer=True)
                sync.refresh_call(CatapultClient.from_settings(), fresh)
                args = [fresh, "record_on"]
            url = reverse(name, args=args)
            client = Client()
            if role:
                client.force_login(users[role])
            got_get = client.get(url).status_code
            got_post = client.post(url, {"recording_file_format": "wav"}).status_code
            if (got_get, got_post) != (get_code, post_code):
                failures.append(
                    f"{name} as {role}: GET {got_get} POST {got_post}, "
                    f"expected {get_code}/{post_code}"
                )
    assert not failures, "\n".join(failures)


def test_actions_need_a_csrf_token(users, live_call, sim):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users[OPERATOR])
    response = client.post(reverse("calls:action", args=[live_call, "hangup"]))
    assert response.status_code == 403
    assert next(c for c in sim.calls_snapshot() if c["id"] == live_call)["state"] == "active"


def test_logout_is_post_only(users):
    client = Client()
    client.force_login(users[VIEWER])
    assert client.get(reverse("logout")).status_code == 405


def test_login_is_throttled_after_repeated_failures(users):
    client = Client()
    for _ in range(4):
        response = client.post(reverse("login"), {"username": "viewer-user", "password": "nope"})
        assert response.status_code == 200
    fifth = client.post(reverse("login"), {"username": "viewer-user", "password": "nope"})
    assert fifth.status_code == 429
    locked = client.post(
        reverse("login"), {"username": "viewer-user", "password": "pw-for-tests-1"}
    )
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()


def test_secrets_never_leak(client, users, sim, catapult_settings, caplog, settings):
    """Make the API fail every way we can and look for the token and secret everywhere."""
    caplog.set_level(logging.DEBUG)
    token, secret = catapult_settings.CATAPULT_API_TOKEN, catapult_settings.CATAPULT_API_SECRET
    settings.CALLBACK_PASSWORD = "cb-" + secrets.token_hex(8)
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    # Wrong credentials: the API answers 401.
    settings.CATAPULT_API_SECRET = secret + "-wrong"
    sync.run_cycle()
    client.force_login(users[OPERATOR])
    client.post(reverse("calls:action", args=[call_id, "hangup"]))
    settings.CATAPULT_API_SECRET = secret
    for kind in ("error", "truncated", "reset"):
        sim.faults.add(kind, count=1)
        sync.run_cycle()
        client.post(reverse("calls:action", args=[call_id, "record_on"]))
    client.post(
        reverse("calls:place"), {"from_number": sim.account_numbers[0], "to": "+19195550100"}
    )
    pages = [
        client.get(reverse(name, args=args)).content.decode()
        for name, args in [
            ("calls:list", []),
            ("calls:detail", [call_id]),
            ("calls:audit", []),
            ("calls:recordings", [call_id]),
            ("calls:status", []),
        ]
    ]
    stored = [
        *SyncRun.objects.values_list("error", flat=True),
        *(str(row) for row in AuditEntry.objects.values_list("params", "message", "api_code")),
        *(str(row) for row in CallbackEvent.objects.values_list("payload")),
        *(str(raw) for raw in __import__("calls.models").models.Call.objects.values_list("raw")),
    ]
    everything = "\n".join(pages + stored + [caplog.text])
    assert SyncRun.objects.filter(outcome="failed").exists()
    assert AuditEntry.objects.exclude(outcome="accepted").exists()
    for value in (token, secret, settings.CALLBACK_PASSWORD):
        assert value not in everything

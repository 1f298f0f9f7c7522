"""Hostile query strings and form bodies: never a 500, never reflected unescaped."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import Call
from calls.roles import OPERATOR, assign_role

pytestmark = pytest.mark.django_db

# A tag no page ever contains: if it comes back as-is, something was reflected unescaped.
PROBE = "<x-probe onmouseover=1>"
NASTY = [
    PROBE,
    "' OR 1=1 --",
    '"; DROP TABLE calls_call; --',
    "%00",
    "\x00\x01\x1b[31m",
    "../../etc/passwd",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "9" * 400,
    "-1",
    "1e309",
    "2026-02-30T25:61",
    "0000-00-00",
    "9999-12-31T23:59",
    "\u202e\u200b\ufeff",
    "🙂" * 50,
    "x" * 5000,
]
values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.builds(lambda a, b: a + PROBE + b, st.text(max_size=20), st.text(max_size=20)),
)
LIST_FIELDS = [
    "q",
    "match",
    "direction",
    "state",
    "cause",
    "period",
    "start_from",
    "start_to",
    "min_duration",
    "max_duration",
    "recording",
    "tag",
    "bridge",
    "conference",
    "before",
    "after",
    "operator",
    "since",
    "until",
    "partial",
]
query_strings = st.dictionaries(st.sampled_from(LIST_FIELDS), values, max_size=6)


@pytest.fixture
def operator_client(client, django_user_model):
    user = django_user_model.objects.create_user("otto", password="pw-for-tests-1")
    assign_role(user, OPERATOR)
    client.force_login(user)
    now = timezone.now()
    Call.objects.create(
        catapult_id="c-hostile",
        direction="in",
        from_number="+19195550100",
        to_number="+19195550111",
        state="completed",
        start_time=now - timedelta(minutes=5),
        first_seen_at=now,
        synced_at=now,
    )
    return client


def _check(response):
    assert response.status_code < 500, response.status_code
    body = response.content.decode("utf-8", "replace") if not response.streaming else ""
    assert PROBE not in body


GET_VIEWS = ["calls:list", "calls:export", "calls:audit", "calls:status"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(GET_VIEWS), params=query_strings)
def test_get_views_survive_hostile_query_strings(operator_client, name, params):
    _check(operator_client.get(reverse(name), params))
    _check(operator_client.get(reverse(name), params, headers={"HX-Request": "true"}))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segment=values, params=query_strings)
def test_path_parameters_survive_hostile_values(operator_client, segment, params):
    safe = quote(segment.replace("/", ""), safe="") or "x"
    for path in (f"/calls/{safe}/", f"/numbers/{safe}/", f"/calls/{safe}/actions/{safe}/"):
        if "/actions/" in path:
            _check(operator_client.post(path, params))
        else:
            _check(operator_client.get(path, params))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "from_number",
                "to",
                "recording_enabled",
                "recording_file_format",
                "callback_url",
                "tag",
                "transfer_to",
                "transfer_caller_id",
                "whisper_sentence",
                "from",
            ]
        ),
        values,
        max_size=6,
    ),
    target=st.sampled_from(["place", "transfer", "record_on", "hangup"]),
)
def test_forms_survive_hostile_bodies(operator_client, sim, catapult_settings, body, target):
    if target == "place":
        url = reverse("calls:place")
    else:
        url = reverse("calls:action", args=["c-hostile", target])
    _check(operator_client.post(url, body))
    _check(operator_client.post(url, body, headers={"HX-Request": "true"}))

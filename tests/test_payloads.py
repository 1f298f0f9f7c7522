"""payloads: API JSON to model fields, keeping what can be kept of odd records."""

import json
from datetime import UTC, datetime

import pytest

from calls import sync
from calls.models import Call
from calls.sync.payloads import call_fields, event_fields

FIRST_SEEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GOOD = {
    "id": "c-good",
    "state": "completed",
    "direction": "out",
    "from": "+19195550100",
    "to": "+19195550111",
    "startTime": "2026-11-30T11:00:00Z",
    "activeTime": "2026-11-30T11:00:05.250Z",
    "endTime": "2026-11-30T11:01:05-03",
    "chargeableDuration": "60",
    "recordingEnabled": "true",
}


def test_a_good_call_has_no_oddities():
    fields = call_fields(GOOD, fallback_time=FIRST_SEEN)
    assert fields["oddities"] == [] and fields["raw_original"] == ""
    assert fields["chargeable_duration"] == 60 and fields["recording_enabled"] is True
    assert fields["end_time"] == datetime(2026, 11, 30, 14, 1, 5, tzinfo=UTC)


ODD = [
    ({"startTime": "yesterday-ish"}, "startTime", lambda f: f["start_time"] == FIRST_SEEN),
    ({"startTime": None}, "no startTime", lambda f: f["start_time"] == FIRST_SEEN),
    ({"endTime": {"at": 1}}, "endTime", lambda f: f["end_time"] is None),
    ({"state": "on-hold"}, "Unknown state", lambda f: f["state"] == "on-hold"),
    ({"state": 7}, "Unknown state", lambda f: f["state"] == "7"),
    ({"direction": "sideways"}, "direction", lambda f: f["direction"] == ""),
    (
        {"chargeableDuration": "lots"},
        "chargeableDuration",
        lambda f: f["chargeable_duration"] is None,
    ),
    ({"callTimeout": -5}, "out of range", lambda f: f["call_timeout"] is None),
    ({"recordingEnabled": "maybe"}, "true or false", lambda f: f["recording_enabled"] is False),
    ({"tag": ["a", "b"]}, "not text", lambda f: f["tag"] == '["a", "b"]'),
    ({"sipHeaders": "X-a: b"}, "sipHeaders", lambda f: f["sip_headers"] == {}),
    ({"from": "+1" + "2" * 400}, "characters", lambda f: len(f["from_number"]) == 255),
    ({"tag": "nul\x00here"}, "NUL", lambda f: f["tag"] == "nul\ufffdhere"),
    ({"id": "c-" + "x" * 90}, "The id is", lambda f: len(f["catapult_id"]) == 64),
]


@pytest.mark.parametrize(("change", "oddity", "check"), ODD, ids=[o[1] for o in ODD])
def test_an_odd_field_is_kept_as_far_as_it_can_be_and_flagged(change, oddity, check):
    payload = {**GOOD, **change}
    fields = call_fields(payload, fallback_time=FIRST_SEEN)
    assert check(fields)
    assert any(oddity.lower() in text.lower() for text in fields["oddities"]), fields["oddities"]
    assert json.loads(fields["raw_original"]) == {
        k: v for k, v in payload.items()
    }  # as received (NUL survives as an escape)


def test_unknown_fields_are_kept_in_the_payload_without_fuss():
    fields = call_fields({**GOOD, "carrierNote": {"x": 1}}, fallback_time=FIRST_SEEN)
    assert fields["oddities"] == [] and fields["raw"]["carrierNote"] == {"x": 1}


def test_an_odd_event_is_kept_with_the_time_it_was_read():
    event = event_fields({"id": "ce-1", "name": None, "time": "soon"}, fallback_time=FIRST_SEEN)
    assert event["time"] == FIRST_SEEN and event["name"] == "unnamed"
    assert "time" in event["oddity"]


@pytest.mark.django_db
def test_every_kind_of_odd_record_is_stored_beside_the_good_ones():
    """On SQLite and on PostgreSQL (the suite runs on both): nothing here stops a write."""
    rows = [call_fields(GOOD, fallback_time=FIRST_SEEN)]
    for index, (change, _, _) in enumerate(ODD):
        payload = {**GOOD, "id": f"c-odd-{index}", **change}
        rows.append(call_fields(payload, fallback_time=FIRST_SEEN))
    created, _ = sync.upsert_calls(rows)
    assert created == len(rows) == Call.objects.count()
    stored = Call.objects.exclude(catapult_id="c-good")
    assert all(call.oddities and call.raw_original for call in stored)
    nul = Call.objects.get(tag="nul\ufffdhere")
    assert "\\u0000" in nul.raw_original and "\x00" not in nul.raw_original


# --- phone numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+19195550100", "+1 (919) 555-0100"),
        ("+442079460000", "+44 20 7946 0000"),
        ("+33612345678", "+33 6 12 34 56 78"),
        ("+1000555010", "+1000555010"),  # not a possible number: as it is
        ("sip:alice@example.com", "sip:alice@example.com"),
    ],
)
def test_numbers_are_shown_as_their_country_writes_them(number, shown):
    from calls.numbers import readable

    assert readable(number) == shown


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("+44 20 7946 0000", "US", "+442079460000"),
        ("(919) 555-0100", "US", "+19195550100"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("+1000555010", "US", None),
        ("12", "US", None),
    ],
)
def test_numbers_are_validated_for_any_country(typed, region, e164, settings):
    from django import forms

    from calls.forms import clean_number

    settings.DEFAULT_REGION = region
    if e164:
        assert clean_number(typed, allow_sip=False) == e164
    else:
        with pytest.raises(forms.ValidationError):
            clean_number(typed, allow_sip=False)

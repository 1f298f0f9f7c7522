"""seed_calls: the benchmark data set, written the fast way, readable like synced calls."""

import pytest
from django.core.management import call_command

from calls.models import Call, CallEvent

pytestmark = pytest.mark.django_db(transaction=True)  # VACUUM cannot run in a transaction


def test_seeded_calls_look_like_synced_ones():
    call_command(
        "seed_calls", "--calls", "60", "--live", "3", "--events-per-call", "4", "--jobs", "2"
    )
    assert Call.objects.count() == 63
    assert Call.objects.filter(state__in=Call.LIVE_STATES).count() == 3
    assert CallEvent.objects.exists()
    assert set(CallEvent.objects.values_list("source", flat=True)) == {"api"}
    assert not Call.objects.exclude(oddities=[]).exists()
    assert not Call.objects.filter(state_changed_at__isnull=True).exists()

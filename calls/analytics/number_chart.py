"""The number page's charts: its calls per day and by outcome."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from calls.analytics import charts
from calls.analytics import overview as figures
from calls.filters import OUTCOMES


def number_chart(number: str, sides: list) -> dict:
    zone = timezone.get_current_timezone()
    history = figures.number_history(sides, zone)
    days = history["days"]
    list_url = reverse("calls:list")

    def day_link(i: int, outcome: str) -> str:
        start = figures.local_midnight(days[i][0], zone)
        end = figures.local_midnight(days[i][0] + timedelta(days=1), zone)
        query = {
            "q": number,
            "match": "exact",  # the calls this page counts: this number, not its suffix
            "period": "custom",
            "start_from": start.astimezone(zone).isoformat(),
            "start_to": end.astimezone(zone).isoformat(),
            "outcome": outcome,
        }
        return f"{list_url}?{urlencode(query)}"

    series = list(OUTCOMES)
    chart = charts.stacked(
        [f"{d:%d %b %Y}" for d, _ in days], [c for _, c in days], series, day_link
    )
    outcomes = charts.horizontal(
        [
            (
                label,
                history["outcomes"].get(key, 0),
                f"{list_url}?{urlencode({'q': number, 'match': 'exact', 'outcome': key})}",
            )
            for key, label in series
            if history["outcomes"].get(key)
        ]
    )
    return {**history, "chart": chart, "outcome_bars": outcomes, "series": series}

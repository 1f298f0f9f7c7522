"""The Overview page: the account at a glance, for the calls list's own filters."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from urllib.parse import quote_plus, urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from calls.analytics import charts
from calls.analytics import overview as figures
from calls.filters import OUTCOMES, CallFilterForm
from calls.views import HtmxHttpRequest, _csv_safe, _page_context

# Parameters that say where a slice is: a drill-down link sets its own.
_RANGE = ("period", "start_from", "start_to", "before", "after", "v", "csv")


class _Links:
    """Links to slices of the calls list: the overview's filters plus a range and more."""

    def __init__(self, query, selection: figures.Selection):
        self.base = {k: v for k, v in query.items() if k not in _RANGE and v}
        self.base_query = urlencode(self.base)
        self.selection = selection
        self.list_url = reverse("calls:list")
        self._bounds: dict[tuple[datetime, datetime], str] = {}

    def slice(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        filtered: bool = True,
        **extra,
    ) -> str:
        """The calls list for a part of the range; `filtered=False` drops the overview's
        filters (the peaks count every call of the account)."""
        start = max(start or self.selection.start, self.selection.start)
        end = min(end or self.selection.end, self.selection.end)
        # A page has hundreds of links: each part is encoded once per page (the filters,
        # each range) or is short (the link's own values).
        bounds = self._bounds.get((start, end))
        if bounds is None:
            # With its offset: the repeated hour of a DST change is two different links.
            # isoformat() keeps microseconds where a bound has them (a custom range).
            zone = self.selection.zone
            bounds = self._bounds[(start, end)] = "period=custom&" + urlencode(
                {
                    "start_from": start.astimezone(zone).isoformat(),
                    "start_to": end.astimezone(zone).isoformat(),
                }
            )
        own = "".join(f"&{k}={quote_plus(str(v))}" for k, v in extra.items() if v is not None)
        prefix = self.base_query if filtered and self.base_query else ""
        for name in extra:
            if name in self.base:  # the link's own value replaces the filter's
                kept = {k: v for k, v in self.base.items() if k not in extra}
                prefix = urlencode(kept) if filtered else ""
                break
        joined = f"{prefix}&{bounds}{own}" if prefix else f"{bounds}{own}"
        return f"{self.list_url}?{joined}"

    def number(self, number: str) -> str:
        return reverse("calls:number", args=[number])


@require_GET
@login_required
@vary_on_headers("HX-Request")
def overview(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.copy()
    if not {"period", "start_from", "start_to"} & set(query):
        query["period"] = figures.DEFAULT_PERIOD  # shown as chosen in the form, too
    form = CallFilterForm(query)
    context = {**_page_context(request), "form": form, "range_error": ""}
    template = "calls/overview.html#panels" if request.htmx else "calls/overview.html"
    chart = query.get("csv", "")
    if chart and chart not in CHARTS:
        return HttpResponse(
            f"Unknown chart: {', '.join(CHARTS)}.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    if not form.is_valid():
        return render(request, template, {**context, "panels": None}, status=400)
    # Whole seconds: the drill-down links carry the range's bounds to the second, and
    # select the very calls the bars count.
    now = timezone.now().replace(microsecond=0)
    try:
        selection = figures.select(form, now, timezone.get_current_timezone())
    except figures.RangeTooLong as exc:
        context["range_error"] = str(exc)
        return render(request, template, {**context, "panels": None}, status=400)
    panels = build(request, selection, query)
    if chart:
        return _csv(panels, chart)
    context["panels"] = panels
    return render(request, template, context)


CHARTS = ("volume", "peaks", "heatmap", "causes", "directions")


def build(request, selection: figures.Selection, query) -> dict:
    """Every panel's figures, shapes and links."""
    links = _Links(query, selection)
    total_rows, hour_rows = selection.split_rows()
    range_totals = figures.totals(total_rows)
    bars = figures.intervals(selection)
    per_bar = figures.by_interval(hour_rows, bars)
    series = list(OUTCOMES)
    labels = [bar.label for bar in bars]
    volume = charts.stacked(
        labels,
        per_bar,
        series,
        lambda i, key: links.slice(bars[i].start, bars[i].end, outcome=key),
    )
    peaks = figures.peak_per_interval(selection, bars)
    peak_chart = charts.stacked(
        labels,
        [{"peak": p or 0} for p in peaks],
        [("peak", "calls at once")],
        lambda i, key: links.slice(bars[i].start, bars[i].end, filtered=False),
    )
    grid = figures.heatmap(hour_rows, selection.zone)
    heat = charts.heat(grid, lambda day, hour: links.slice(weekday=day + 1, hour=hour))
    causes = charts.horizontal(
        [(cause, n, links.slice(cause=cause)) for cause, n in range_totals.by_cause.most_common(10)]
    )
    directions = charts.horizontal(
        [
            (label, range_totals.by_direction.get(key, 0), links.slice(direction=key))
            for key, label in (("in", "Inbound"), ("out", "Outbound"))
        ]
    )
    top = figures.top_parties(selection)
    return {
        "selection": selection,
        "totals": range_totals,
        "live": figures.live_now(),
        "comparisons": figures.comparisons(selection),
        "volume": volume,
        "volume_table": list(zip(bars, per_bar, strict=True)),
        "series": series,
        "peaks": peak_chart,
        "peak_table": list(zip(bars, peaks, strict=True)),
        "peak_max": max((p for p in peaks if p is not None), default=0),
        "heat": heat,
        "volume_title": f"Calls per {'hour' if selection.hourly else 'day'} by outcome",
        "peaks_title": f"Peak concurrent calls per {'hour' if selection.hourly else 'day'}",
        "volume_rows": [
            (bar.label, [counts.get(key, 0) for key, _ in series])
            for bar, counts in zip(bars, per_bar, strict=True)
        ],
        "series_labels": [label for _, label in series],
        "peak_rows": [
            (bar.label, ["—" if peak is None else peak])
            for bar, peak in zip(bars, peaks, strict=True)
        ],
        "peaks_pending": sum(1 for p in peaks if p is None),
        "peak_labels": ["Peak"],
        "hour_labels": [f"{h:02d}" for h in range(24)],
        "heat_rows": [(charts.DAYS[d], grid[d]) for d in range(7)],
        "causes": causes,
        "directions": directions,
        "top": top,
        "links": links,
        "list_url": links.slice(),
        "per": "hour" if selection.hourly else "day",
        "csv_query": urlencode({k: v for k, v in query.items() if k != "csv"}),
    }


def _csv(panels: dict, chart: str) -> HttpResponse:
    """One chart's numbers as CSV, times in the viewer's zone."""
    out = io.StringIO()
    writer = csv.writer(out)
    series = panels["series"]
    if chart == "volume":
        writer.writerow(["start", "end", *[key for key, _ in series]])
        for bar, counts in panels["volume_table"]:
            row = [bar.start.isoformat(), bar.end.isoformat()]
            writer.writerow(row + [counts.get(key, 0) for key, _ in series])
    elif chart == "peaks":
        writer.writerow(["start", "end", "peak_concurrent_calls"])
        for bar, peak in panels["peak_table"]:
            writer.writerow(
                [bar.start.isoformat(), bar.end.isoformat(), "" if peak is None else peak]
            )
    elif chart == "heatmap":
        writer.writerow(["weekday", *[f"{h:02d}" for h in range(24)]])
        for day, values in panels["heat_rows"]:
            writer.writerow([day, *values])
    elif chart == "causes":
        writer.writerow(["hangup_cause", "calls"])
        for bar in panels["causes"]:
            writer.writerow([_csv_safe(bar.label), bar.value])
    else:  # directions (the view checked the name)
        writer.writerow(["direction", "calls"])
        for bar in panels["directions"]:
            writer.writerow([bar.label, bar.value])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="overview-{chart}.csv"'
    return response

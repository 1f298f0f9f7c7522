"""SVG charts as markup (shapes from calls/analytics/charts.py).

Tags rather than template loops: a chart is a few hundred elements. Each element is one
f-string: numbers go in as they are, every text and link through escape(), which is
what format_html would apply to them, at a fraction of its cost per element (a page has
some 500 of them).
"""

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from calls.analytics.charts import LEFT

register = template.Library()


def _safe(parts) -> str:
    return mark_safe("".join(parts))  # noqa: S308 - every text part went through escape()


@register.simple_tag
def stacked_chart(chart, chart_id: str, title: str):
    grid = _safe(
        f'<line class="grid" x1="{LEFT}" x2="{chart.width}" y1="{t.y}" y2="{t.y}"></line>'
        f'<text class="axis" x="{t.x}" y="{t.y}" text-anchor="end" dominant-baseline="middle">'
        f"{escape(t.label)}</text>"
        for t in chart.y_ticks
    )
    bars = _safe(
        f'<a href="{escape(r.href)}"><rect class="{escape(r.css)}" x="{r.x}" y="{r.y}" '
        f'width="{r.w}" height="{r.h}"><title>{escape(r.title)}</title></rect></a>'
        for r in chart.rects
    )
    labels = _safe(
        f'<text class="axis" x="{t.x}" y="{t.y}" text-anchor="middle">{escape(t.label)}</text>'
        for t in chart.x_ticks
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="group" aria-labelledby="{}-title {}-summary">'
        '<title id="{}-title">{}</title>{}{}{}</svg>',
        chart.width,
        chart.height,
        chart_id,
        chart_id,
        chart_id,
        title,
        grid,
        bars,
        labels,
    )


@register.simple_tag
def heat_chart(heat):
    days = _safe(
        f'<text class="axis" x="{t.x}" y="{t.y}" text-anchor="end" dominant-baseline="middle">'
        f"{escape(t.label)}</text>"
        for t in heat.days
    )
    cells = _safe(
        f'<a href="{escape(c.href)}"><rect class="h{c.level}" x="{c.x}" y="{c.y}" width="22" '
        f'height="22" rx="3"><title>{escape(c.title)}</title></rect></a>'
        for c in heat.cells
    )
    hours = _safe(
        f'<text class="axis" x="{t.x}" y="{t.y}" text-anchor="middle">{escape(t.label)}</text>'
        for t in heat.hours
    )
    return format_html(
        '<svg class="chart heat" viewBox="0 0 620 196" role="group" '
        'aria-labelledby="heat-title heat-summary"><title id="heat-title">'
        "Calls by hour of the week</title>{}{}{}</svg>",
        days,
        cells,
        hours,
    )


@register.simple_tag
def number_table(rows, first_header: str, headers):
    """A table of a chart's numbers: rows of (label, [values])."""
    head = _safe(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = _safe(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f"<td>{escape(v)}</td>" for v in values)
        + "</tr>"
        for label, values in rows
    )
    return format_html(
        '<table class="props"><thead><tr><th scope="col">{}</th>{}</tr></thead>'
        "<tbody>{}</tbody></table>",
        first_header,
        head,
        body,
    )

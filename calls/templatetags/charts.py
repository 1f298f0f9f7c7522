"""SVG charts as markup (shapes from calls/analytics/charts.py).

Tags rather than template loops: a chart is a few hundred elements, and building them
with one format_html each is several times faster than the template engine's nodes.
Every text and link goes through format_html, so escaping is the same as a template's.
"""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from calls.analytics.charts import LEFT

register = template.Library()


@register.simple_tag
def stacked_chart(chart, chart_id: str, title: str):
    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        ((LEFT, chart.width, t.y, t.y, t.x, t.y, t.label) for t in chart.y_ticks),
    )
    bars = format_html_join(
        "",
        '<a href="{}"><rect class="{}" x="{}" y="{}" width="{}" height="{}">'
        "<title>{}</title></rect></a>",
        ((r.href, r.css, r.x, r.y, r.w, r.h, r.title) for r in chart.rects),
    )
    labels = format_html_join(
        "",
        '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
        ((t.x, t.y, t.label) for t in chart.x_ticks),
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
    days = format_html_join(
        "",
        '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        ((t.x, t.y, t.label) for t in heat.days),
    )
    cells = format_html_join(
        "",
        '<a href="{}"><rect class="h{}" x="{}" y="{}" width="22" height="22" rx="3">'
        "<title>{}</title></rect></a>",
        ((c.href, c.level, c.x, c.y, c.title) for c in heat.cells),
    )
    hours = format_html_join(
        "",
        '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
        ((t.x, t.y, t.label) for t in heat.hours),
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
    head = format_html_join("", '<th scope="col">{}</th>', ((h,) for h in headers))
    body = mark_safe(  # noqa: S308 - every part below is built by format_html
        "".join(
            format_html(
                '<tr><th scope="row">{}</th>{}</tr>',
                label,
                format_html_join("", "<td>{}</td>", ((v,) for v in values)),
            )
            for label, values in rows
        )
    )
    return format_html(
        '<table class="props"><thead><tr><th scope="col">{}</th>{}</tr></thead>'
        "<tbody>{}</tbody></table>",
        first_header,
        head,
        body,
    )

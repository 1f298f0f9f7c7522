import functools
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from calls import catalog, numbers

register = template.Library()


@register.filter
def row_actions(call):
    """The actions a table row or the ringing strip offers for the call (calls.catalog)."""
    return catalog.row_actions(call)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


_PLACEHOLDER = "PLACEHOLDER0"


@functools.cache
def _url_pattern(name: str) -> str:
    """reverse() once per URL name; rows then fill in their id (reverse per row costs ~50 µs,
    hundreds of times per page)."""
    return reverse(name, args=[_PLACEHOLDER])


def _url(name: str, value: str) -> str:
    return _url_pattern(name).replace(_PLACEHOLDER, quote(value, safe="+:@"), 1)


@register.filter
def detail_url(call) -> str:
    return _url("calls:detail", call.catapult_id)


@register.simple_tag
def number_link(number, query=None):
    """A number, readable, matched digits marked, linking to its number page."""
    if not number:
        return ""
    return format_html(
        '<a class="number" href="{}" title="{}">{}</a>',
        _url("calls:number", number),
        number,
        numbers.highlight(number, query),
    )


@register.filter
def readable(number):
    return numbers.readable(number or "")


@register.filter
def seconds(value):
    """123 -> '2:03'; 3723 -> '1:02:03'."""
    if value is None or value == "":
        return ""
    value = int(value)
    hours, rest = divmod(value, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@register.simple_tag
def moment(value):
    """<time> with the machine-readable and the local, readable form of a datetime.

    One time-zone conversion and a C-level strftime: the `date` filter twice per row
    was a tenth of the calls table's rendering time.
    """
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>', local.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S")
    )

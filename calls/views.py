"""Pages and htmx partials. Each page is one template; htmx requests get a named partial."""

import contextlib
import csv
import hashlib
import json
import logging
import re
from collections.abc import Iterator

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from calls import (
    actions,
    callbacks,
    metrics,
    numbers,
    pagination,
    reports,
    stream,
    sync,
    timeline,
)
from calls.analytics import number_chart as analytics
from calls.catapult import CatapultClient, CatapultError
from calls.catapult.budget import Priority, RateLimiter
from calls.filters import (
    KNOWN_CAUSES,
    AuditFilterForm,
    CallFilterForm,
    active_filters,
    more_filters_open,
)
from calls.forms import PlaceCallForm, RecordingForm, TransferForm
from calls.locks import redis_client
from calls.models import AuditEntry, Call, SyncRun
from calls.recordings.views import call_panel as recordings_panel
from calls.status import sync_status
from calls.sync import planner
from calls.sync.callbacks import apply as apply_callback

log = logging.getLogger(__name__)

PAGE_SIZE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _page_context(request: HtmxHttpRequest) -> dict:
    status = sync_status()
    blocked = (
        f"The Catapult API is unreachable ({status.api.last_error or 'no answer'})"
        if status.api_down
        else ""
    )
    return {
        "status": status,
        # Where this page's change stream starts: nothing between render and connect is lost.
        "stream_from": stream.current_position(),
        "can_act": actions.can_act(request.user),
        "actions_blocked": blocked,
        # The same attributes on every row button: built once per page, not per button.
        "blocked_attrs": format_html(' disabled title="{}"', blocked) if blocked else "",
        # Defined for every page with call rows: a name the row template looks up and
        # does not find costs an exception per row.
        "action_result": None,
        "query": None,
    }


# --- calls list ---------------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def call_list(request: HtmxHttpRequest) -> HttpResponse:
    form = CallFilterForm(request.GET)
    context = {
        **_page_context(request),
        "form": form,
        "causes": KNOWN_CAUSES,
        "more_open": more_filters_open(request.GET),
    }
    if not form.is_valid():
        template = "calls/call_list.html#calls-table" if request.htmx else "calls/call_list.html"
        return render(request, template, {**context, "page": None}, status=400)
    page = pagination.keyset_page(
        form.filter(_listed_calls()),
        "start_time",
        before=form.cleaned_data["before"],
        after=form.cleaned_data["after"],
        size=PAGE_SIZE,
    )
    pending = actions.pending_entries(page.rows)
    version = _version(
        [(c.pk, c.state, c.synced_at, c.events_synced_at) for c in page.rows],
        sorted(pending),
        context["actions_blocked"],
    )
    if _unchanged(request, version):
        return HttpResponse(status=204)
    current = _query_without(request, "v")
    context.update(
        page=page,
        query=form.number_query(),
        pending=pending,
        has_live=any(call.is_live for call in page.rows),
        filters_active=active_filters(form, request.GET),
        base_query=_query_without(request, "before", "after", "v"),
        poll_url=f"{request.path}?{current}{'&' if current else ''}v={version}",
    )
    template = "calls/call_list.html#calls-table" if request.htmx else "calls/call_list.html"
    return render(request, template, context)


def _listed_calls():
    """Calls as tables show them: without the stored payloads, which no row displays and
    which cost a JSON decode per row."""
    return Call.objects.defer("raw", "sip_headers")


def _version(*parts) -> str:
    """A short fingerprint of what a polled region shows."""
    return hashlib.blake2s(repr(parts).encode(), digest_size=8).hexdigest()


def _unchanged(request: HtmxHttpRequest, version: str) -> bool:
    """A poll whose region would come back the same: answer 204 and htmx keeps the DOM,
    so focus, open details and scroll position survive."""
    return bool(request.htmx) and request.GET.get("v") == version


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


_PLAIN_NUMBER = re.compile(r"^\+\d{1,20}$")  # an E.164 number is data, not a formula


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@login_required
def call_export(request: HtmxHttpRequest) -> HttpResponse:
    """Exactly the filtered list as CSV, streamed in chunks, times in the viewer's zone."""
    form = CallFilterForm(request.GET)
    if not form.is_valid():
        # Field names only: the values stay out of a plain-text answer.
        names = ", ".join(sorted(form.errors))
        return HttpResponse(
            f"Invalid filters: {names}. Correct them on the calls page and export again.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    qs = form.filter(Call.objects.all()).order_by("-start_time", "-id")
    # The zone now: the generator runs after the middleware has put the request's zone away.
    zone = timezone.get_current_timezone()
    rows = _csv_rows_async(qs, zone) if hasattr(request, "scope") else _csv_rows(qs, zone)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="calls.csv"'
    return response


CSV_COLUMNS = [
    "id",
    "direction",
    "from",
    "to",
    "state",
    "hangup_cause",
    "start_time",
    "active_time",
    "end_time",
    "duration_s",
    "chargeable_duration_s",
    "recording",
    "tag",
]


_CSV_FIELDS = (
    "catapult_id",
    "direction",
    "from_number",
    "to_number",
    "state",
    "hangup_cause",
    "start_time",
    "active_time",
    "end_time",
    "duration",
    "chargeable_duration",
    "has_recording",
    "tag",
    "pk",
)
_CSV_CHUNK = 2000


def _csv_pages(qs) -> Iterator[list[tuple]]:
    """The rows in chunks, newest first, each chunk its own keyset query: no cursor stays
    open between chunks (under ASGI each chunk may be fetched in another thread)."""
    last = None
    while True:
        page = qs
        if last is not None:
            page = qs.filter(Q(start_time__lt=last[0]) | Q(start_time=last[0], pk__lt=last[1]))
        rows = list(page.values_list(*_CSV_FIELDS)[:_CSV_CHUNK])
        if not rows:
            return
        yield rows
        last = (rows[-1][6], rows[-1][-1])


def _csv_line(writer, zone, row: tuple) -> str:
    (cid, direction, frm, to, state, cause, start, active, end, duration, charge, rec, tag, _) = row

    def local(moment):
        return moment.astimezone(zone).isoformat() if moment else ""

    return writer.writerow(
        [
            cid,
            direction,
            _csv_safe(frm),
            _csv_safe(to),
            state,
            cause,
            local(start),
            local(active),
            local(end),
            duration if duration is not None else "",
            charge if charge is not None else "",
            "yes" if rec else "no",
            _csv_safe(tag),
        ]
    )


def _csv_rows(qs, zone) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for rows in _csv_pages(qs):
        for row in rows:
            yield _csv_line(writer, zone, row)


async def _csv_rows_async(qs, zone):
    """The same, for an ASGI server, which would otherwise hold a sync iterator's whole
    output in memory before sending the first byte."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    pages = _csv_pages(qs)
    while True:
        rows = await sync_to_async(next)(pages, None)
        if rows is None:
            return
        yield "".join(_csv_line(writer, zone, row) for row in rows)


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; a quote disarms them."""
    if text and text[0] in "=+-@\t\r" and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


# --- one call -----------------------------------------------------------------------------


def _call_or_404(catapult_id: str) -> Call:
    return get_object_or_404(Call, catapult_id=catapult_id)


def _detail_context(request: HtmxHttpRequest, call: Call) -> dict:
    events = list(call.events.order_by("time", "id"))
    audit = list(call.audit.order_by("at", "id"))
    # Other legs: B-legs of our own transfers, and those the call's transfer events name.
    related_ids = {a.new_call_id for a in audit if a.new_call_id} | {
        str(e.data_json["callId"])
        for e in events
        if e.name == "transfer" and isinstance(e.data_json, dict) and e.data_json.get("callId")
    }
    related = Q(catapult_id__in=related_ids)
    if call.bridge_id:
        related |= Q(bridge_id=call.bridge_id)
    if call.conference_id:
        related |= Q(conference_id=call.conference_id)
    legs = list(Call.objects.filter(related).exclude(pk=call.pk).order_by("start_time")[:20])
    return {
        **_page_context(request),
        "call": call,
        "timeline": timeline.build(call, events, audit, {leg.catapult_id: leg for leg in legs}),
        "legs": legs,
        "available": actions.available_actions(call),
        "pending": actions.pending_entries([call]).get(call.pk),
        # As the API sent them: JSON for anything that is not text (true, not True).
        "properties": [
            (key, value if isinstance(value, str) else json.dumps(value))
            for key, value in sorted(call.raw.items())
        ],
        "transfer_form": TransferForm(),
        "recording_form": RecordingForm(),
    }


@require_GET
@login_required
@vary_on_headers("HX-Request")
def call_detail(request: HtmxHttpRequest, catapult_id: str) -> HttpResponse:
    call = _call_or_404(catapult_id)
    planner.watch(call.catapult_id)  # someone has it open: its live events are worth reads
    read_error = ""
    if not request.htmx and call.events_synced_at is None:
        # An operator is waiting on this call: its events are read now, ahead of the sync.
        client = CatapultClient.for_operators(Priority.WAITING)
        read_error = sync.read_events_now(client, call)
        call.refresh_from_db()
    context = _detail_context(request, call)
    context["read_error"] = read_error
    partial = request.GET.get("partial")
    context["timeline_version"] = _version(
        [(e.time, e.sentence, e.confirmed_by is not None) for e in context["timeline"]]
    )
    if request.htmx and partial in ("timeline", "call-summary"):
        if partial == "timeline" and _unchanged(request, context["timeline_version"]):
            return HttpResponse(status=204)
        return render(request, f"calls/call_detail.html#{partial}", context)
    return render(request, "calls/call_detail.html", context)


@require_GET
@login_required
def call_recordings(request: HtmxHttpRequest, catapult_id: str) -> HttpResponse:
    """The call's recordings as stored (calls.recordings), read from the API only while
    something is missing (see recordings_panel)."""
    call = _call_or_404(catapult_id)
    return render(request, "calls/call_detail.html#recordings", recordings_panel(request, call))


@require_POST
@login_required
def call_refresh(request: HtmxHttpRequest, catapult_id: str) -> HttpResponse:
    call = _call_or_404(catapult_id)
    error = ""
    try:
        call = sync.refresh_call(CatapultClient.for_operators(Priority.WAITING), call.catapult_id)
    except CatapultError as exc:
        error = f"Could not refresh: {exc}"
    context = {**_detail_context(request, call), "refresh_error": error}
    response = render(
        request, "calls/call_detail.html#call-summary", context, status=502 if error else 200
    )
    return trigger_client_event(response, "timeline-changed")


@require_POST
@login_required
def call_action(request: HtmxHttpRequest, catapult_id: str, name: str) -> HttpResponse:
    call = _call_or_404(catapult_id)
    if name not in actions.ACTIONS:
        raise Http404("No such action")
    form_class = {"transfer": TransferForm, "record_on": RecordingForm}.get(name)
    params = {}
    if not actions.can_act(request.user):
        context = {
            **_detail_context(request, call),
            "action_result": actions.deny_role(request.user, name, call),
        }
        return _action_response(request, call, context, status=403)
    if form_class:
        form = form_class(request.POST)
        if not form.is_valid():
            context = {**_detail_context(request, call), "action_error": _form_errors(form)}
            if name == "transfer":
                context["transfer_form"] = form
            return _action_response(request, call, context, status=400)
        params = form.cleaned_data
    result = actions.perform(request.user, call, name, params)
    call.refresh_from_db()
    status = 200 if result.ok else status_for(result)
    context = {**_detail_context(request, call)}
    context["action_result"] = result
    return _action_response(request, call, context, status=status)


def status_for(result: actions.ActionResult) -> int:
    """The HTTP status of an action that was not accepted."""
    entry = result.entry
    if entry.outcome == AuditEntry.Outcome.DENIED:
        return 403 if result.reason == "role" else 409
    if entry.outcome == AuditEntry.Outcome.FAILED:
        return 503
    return 502 if (entry.api_status or 500) >= 500 else 409


def _action_response(request, call, context, *, status: int) -> HttpResponse:
    """The list's row or the detail page's summary, whichever the button was in."""
    if request.POST.get("from") == "strip":
        context.update(_ringing_context(request))
        context["strip_result"] = context["action_result"] or context.get("action_error")
        template = "base.html#ringing-strip"
    elif request.POST.get("from") == "row":
        context["pending"] = actions.pending_entries([call])
        template = "calls/call_list.html#call-row"
    else:
        template = "calls/call_detail.html#call-summary"
    response = render(request, template, context, status=status)
    return trigger_client_event(response, "timeline-changed")


def _form_errors(form) -> str:
    return " ".join(
        f"{form.fields[name].label or name}: {' '.join(errs)}"
        if name in form.fields
        else " ".join(errs)
        for name, errs in form.errors.items()
    )


# --- numbers ------------------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def number_detail(request: HtmxHttpRequest, number: str) -> HttpResponse:
    if len(number) > 255 or not number.isprintable():
        raise Http404("Not a number")
    match = numbers.digits(number)
    if match:
        sides = [Q(from_digits=match), Q(to_digits=match)]
    else:
        sides = [Q(from_number__iexact=number), Q(to_number__iexact=number)]
    calls = _listed_calls().filter(sides[0] | sides[1])
    if request.htmx and request.GET.get("partial") == "live":
        live = list(calls.filter(state__in=Call.LIVE_STATES).order_by("-start_time")[:50])
        context = {
            **_page_context(request),
            "number": number,
            "live": live,
            "pending": actions.pending_entries(live),
        }
        return render(request, "calls/number_detail.html#number-live", context)
    before = request.GET.get("before", "")
    try:
        page = pagination.keyset_page(calls, "start_time", before=before, size=PAGE_SIZE)
    except pagination.BadCursor:
        page = pagination.keyset_page(calls, "start_time", size=PAGE_SIZE)
    stats = reports.number_statistics(sides)
    history = analytics.number_chart(number, sides)
    live = list(calls.filter(state__in=Call.LIVE_STATES).order_by("-start_time")[:50])
    context = {
        **_page_context(request),
        "number": number,
        "page": page,
        "stats": stats,
        "history": history,
        "live": live,
        "pending": actions.pending_entries(page.rows + live),
        "base_query": "",
    }
    return render(request, "calls/number_detail.html", context)


# --- placing a call -----------------------------------------------------------------------


@login_required
def place_call(request: HtmxHttpRequest) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    context = _page_context(request)
    known = (
        Call.objects.filter(direction="out")
        .exclude(from_number="")
        .values_list("from_number", flat=True)
        .distinct()[:20]
    )
    if request.method == "GET":
        return render(
            request,
            "calls/place_call.html",
            {**context, "form": PlaceCallForm(), "known_numbers": known},
        )
    form = PlaceCallForm(request.POST)
    if not actions.can_act(request.user):
        result = actions.deny_role(request.user, "place_call")
        context.update(form=form, result=result, known_numbers=known)
        return render(request, "calls/place_call.html#place-form", context, status=403)
    if not form.is_valid():
        return render(
            request,
            "calls/place_call.html#place-form",
            {**context, "form": form, "known_numbers": known},
            status=400,
        )
    result = actions.place_call(request.user, form.cleaned_data)
    status = 200 if result.ok else status_for(result)
    return render(
        request,
        "calls/place_call.html#place-form",
        {
            **context,
            "form": form if not result.ok else PlaceCallForm(),
            "result": result,
            "known_numbers": known,
        },
        status=status,
    )


# --- audit --------------------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context = {**_page_context(request), "form": form}
    template = "calls/audit_list.html#audit-table" if request.htmx else "calls/audit_list.html"
    if not form.is_valid():
        return render(request, template, {**context, "page": None}, status=400)
    page = pagination.keyset_page(
        form.filter(AuditEntry.objects.all()),
        "at",
        before=form.cleaned_data["before"],
        size=PAGE_SIZE,
    )
    context.update(page=page, base_query=_query_without(request, "before", "after"))
    return render(request, template, context)


# --- status -------------------------------------------------------------------------------


RINGING_SHOWN = 10


def _ringing_context(request: HtmxHttpRequest) -> dict:
    ringing = list(
        _listed_calls()
        .filter(direction="in", state="started")
        .order_by("-start_time")[: RINGING_SHOWN + 1]
    )
    return {
        "ringing": ringing[:RINGING_SHOWN],
        "ringing_more": len(ringing) > RINGING_SHOWN,
        "can_act": actions.can_act(request.user),
    }


@require_GET
@login_required
def ringing_strip(request: HtmxHttpRequest) -> HttpResponse:
    """Ringing inbound calls, on every page: answer or reject them from anywhere."""
    return render(request, "base.html#ringing-strip", _ringing_context(request))


@require_GET
@login_required
@vary_on_headers("HX-Request")
def sync_page(request: HtmxHttpRequest) -> HttpResponse:
    context = _page_context(request)
    spent = []
    if settings.CATAPULT_RATE_LIMIT > 0:
        with contextlib.suppress(redis.RedisError):
            limiter = RateLimiter(redis_client(), settings.CATAPULT_RATE_LIMIT)
            counts = limiter.spent("calls")
            spent = [(p.name.lower(), counts.get(p.name.lower(), 0)) for p in Priority]
    context.update(
        runs=SyncRun.objects.exclude(outcome=SyncRun.Outcome.SKIPPED).order_by("-started_at")[:20],
        spent=spent,
        rate=settings.CATAPULT_RATE_LIMIT,
        interval=settings.SYNC_INTERVAL_SECONDS,
    )
    template = "calls/sync.html#sync-body" if request.htmx else "calls/sync.html"
    return render(request, template, context)


@require_GET
@login_required
def status_line(request: HtmxHttpRequest) -> HttpResponse:
    """The status line, or (part=banner) the API-unreachable banner below it."""
    part = "api-banner" if request.GET.get("part") == "banner" else "sync-status"
    return render(request, f"base.html#{part}", {"status": sync_status()})


# --- callbacks ----------------------------------------------------------------------------


@csrf_exempt  # authenticated by the Basic credentials in the callback URL instead
def catapult_callback(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if not callbacks.check_credentials(request.headers.get("Authorization")):
        return HttpResponse(
            "Authentication required",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Basic realm="catapult-callbacks", charset="UTF-8"'},
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > callbacks.MAX_BODY_BYTES:
        return HttpResponse("Callback body too large", status=413, content_type="text/plain")
    try:
        payload = callbacks.parse(
            request.method, request.body, request.GET.dict(), request.content_type
        )
    except callbacks.Rejected as exc:
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
    event, created = callbacks.store(payload)
    metrics.count("catapult_callbacks_received_total", type=event.event_type)
    if created or event.processed_at is None:
        try:
            apply_callback(event)
            metrics.count("catapult_callbacks_applied_total", type=event.event_type)
        except Exception:
            # Stored, so nothing is lost: the list and events reads bring the same change.
            log.exception("Callback %s could not be applied", event.pk)
    return HttpResponse(status=200)

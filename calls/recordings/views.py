"""The Recordings page, a call's recordings panel, and the media view. Thin: the work is in
store, media and filters."""

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from calls import pagination
from calls.catapult import (
    CatapultClient,
    CatapultError,
    ConnectionFailed,
    NotFound,
    RateLimited,
    ServerError,
)
from calls.catapult.budget import Priority
from calls.models import AuditEntry, Call
from calls.recordings import media, store
from calls.recordings.filters import RecordingFilterForm
from calls.recordings.models import Recording

log = logging.getLogger(__name__)

PAGE_SIZE = 50


# --- the Recordings page -------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def recording_list(request: HttpRequest) -> HttpResponse:
    from calls.views import _page_context, _query_without

    form = RecordingFilterForm(request.GET)
    context = {**_page_context(request), "form": form, "may_listen": media.may_listen(request.user)}
    template = "recordings/recording_list.html"
    if request.htmx:
        template += "#recordings-table"
    if not form.is_valid():
        return render(request, template, {**context, "page": None}, status=400)
    page = pagination.keyset_page(
        form.filter(Recording.objects.select_related("call").defer("raw", "call__raw")),
        "start_time",
        before=form.cleaned_data["before"],
        after=form.cleaned_data["after"],
        size=PAGE_SIZE,
    )
    context.update(page=page, base_query=_query_without(request, "before", "after"))
    return render(request, template, context)


# --- a call's recordings (the call page's panel) ------------------------------------------


def call_panel(request: HttpRequest, call: Call) -> dict:
    """The context of the call page's recordings panel.

    Stored rows first (callbacks and the sync bring them at no /calls cost); the call's
    recordings list is read from the API only while something is missing: a recorded
    call with no rows yet, a recording not final, or one whose media URL is unknown.
    """
    rows = store.for_call(call)
    error = ""
    needs_read = call.has_recording and (
        not rows or any(not r.is_final or (r.playable is False and r.is_complete) for r in rows)
    )
    if needs_read:
        try:
            client = CatapultClient.for_operators(Priority.WAITING)
            items = client.list_recordings(call.catapult_id)
            store.store_items(items, call=call)
            rows = store.for_call(call)
        except CatapultError as exc:
            error = str(exc)
    return {
        "call": call,
        "recordings": rows,
        "recordings_error": error,
        "may_listen": media.may_listen(request.user),
        # Refreshed while a recording is still being made or saved.
        "recordings_busy": any(not r.is_final for r in rows),
    }


# --- the media ------------------------------------------------------------------------------


def _plain(status: int, text: str, **headers) -> HttpResponse:
    return HttpResponse(
        text, status=status, content_type="text/plain; charset=utf-8", headers=headers
    )


@require_GET
@login_required
def recording_media(request: HttpRequest, catapult_id: str) -> HttpResponse:
    """A recording's audio, streamed from Catapult with the browser's byte range."""
    rec = Recording.objects.filter(catapult_id=catapult_id).first()
    if rec is None:
        return _plain(404, "No such recording.")
    download = request.GET.get("download") == "1"
    action = media.DOWNLOAD if download else media.PLAY
    asked = request.headers.get("Range")
    audited = media.starts_playback(asked)
    user = request.user
    if not media.may_listen(user):
        if audited:
            media.audit(user, rec, action, AuditEntry.Outcome.DENIED, "Your role may not listen.")
        return _plain(403, "Your role may not listen to recordings.")
    if not rec.media_url:
        # Its callback came, the lists did not yet: ask for the recording itself (the
        # recordings family's budget, not /calls).
        try:
            item = CatapultClient.for_operators(Priority.WAITING).get_recording(catapult_id)
            rec = store.store_items([item])[0][0]
        except CatapultError:
            pass
    name = media.media_name(rec)
    if name is None:
        # No file here, or a file of another account or server: nothing we may fetch.
        return _plain(404, "This recording has no file we can fetch.")
    if rec.state != Recording.State.COMPLETE:
        return _plain(404, f"The recording is {rec.state_label.lower()}: no file yet.")
    wanted = media.parse_range(asked)
    level = Priority.ACTION if audited else Priority.WAITING
    try:
        stream = CatapultClient.for_operators(level).open_media(
            name, byte_range=wanted.header if wanted else None
        )
    except NotFound:
        if audited:
            media.audit(user, rec, action, AuditEntry.Outcome.REFUSED, "Not found", status=404)
        return _plain(404, "The API has no file for this recording.")
    except RateLimited as exc:
        return _plain(503, f"{exc}.", **{"Retry-After": "1"})
    except (ConnectionFailed, ServerError) as exc:
        if audited:
            media.audit(user, rec, action, AuditEntry.Outcome.FAILED, str(exc))
        return _plain(502, f"The recording could not be fetched: {exc}")
    except CatapultError as exc:
        if audited:
            outcome = AuditEntry.Outcome.REFUSED
            media.audit(user, rec, action, outcome, str(exc), status=exc.status, code=exc.code)
        return _plain(502, f"The API refused the recording: {exc}")
    plan = media.plan(stream.status, stream.headers, wanted, rec.file_format)
    if plan.status == 416:
        stream.close()
        return HttpResponse(status=416, headers=plan.headers)
    if plan.problem:
        stream.close()
        if audited:
            media.audit(user, rec, action, AuditEntry.Outcome.FAILED, plan.problem)
        return _plain(502, f"The recording could not be fetched: {plan.problem}.")
    if audited:
        outcome = AuditEntry.Outcome.ACCEPTED
        media.audit(user, rec, action, outcome, "Sent", status=stream.status)
    chunks = (
        media.body_async(stream, plan) if hasattr(request, "scope") else media.body(stream, plan)
    )
    response = StreamingHttpResponse(chunks, status=plan.status)
    for header, value in plan.headers.items():
        response[header] = value
    filename = f"{rec.catapult_id}.{rec.file_format or 'wav'}"
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"  # a conversation: not for shared caches
    return response

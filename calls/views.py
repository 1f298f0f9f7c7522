from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from calls.models import Call
from calls.status import sync_status

PAGE_SIZE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@login_required
@vary_on_headers("HX-Request")
def call_list(request: HtmxHttpRequest) -> HttpResponse:
    calls = Call.objects.order_by("-start_time", "-id")[:PAGE_SIZE]
    context = {"calls": calls, "status": sync_status()}
    template = "calls/call_list.html#calls-table" if request.htmx else "calls/call_list.html"
    return render(request, template, context)


@require_GET
@login_required
def status_line(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "base.html#sync-status", {"status": sync_status()})

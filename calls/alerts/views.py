"""Alerts pages: rules and their state, history, rule forms, acknowledge/silence, and
saved views. Viewers see; operators acknowledge and silence; admins manage rules."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from calls import actions, pagination
from calls.alerts import evaluate, metrics
from calls.alerts.forms import (
    TEMPLATES,
    FromViewForm,
    HistoryFilterForm,
    RuleForm,
    SavedViewForm,
    SilenceForm,
    template_initial,
)
from calls.alerts.models import Alert, Delivery, DeliveryAttempt, Rule, SavedView
from calls.views import HtmxHttpRequest, _page_context

HISTORY_PAGE = 50


def is_admin(user) -> bool:
    return user.is_authenticated and user.is_superuser


def can_ack(user) -> bool:
    """Operators and admins (the roles that act on calls) acknowledge and silence."""
    return actions.can_act(user)


def _require(check, what: str):
    """403 with a plain sentence for a logged-in user of the wrong role."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                return HttpResponse(
                    f"Only {what} can do this.", status=403, content_type="text/plain"
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


admin_only = _require(is_admin, "admins")
operators_only = _require(can_ack, "operators and admins")


def _context(request: HtmxHttpRequest, **extra) -> dict:
    return {
        **_page_context(request),
        "is_admin": is_admin(request.user),
        "can_ack": can_ack(request.user),
        "silence_choices": SilenceForm.base_fields["minutes"].choices,
        "now": timezone.now(),
        **extra,
    }


# --- rules --------------------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def rule_list(request: HtmxHttpRequest) -> HttpResponse:
    rules = list(Rule.objects.select_related("alert"))
    firing = [r for r in rules if r.firing]
    context = _context(request, rules=rules, firing=firing, templates=TEMPLATES)
    template = "alerts/rules.html#rules-table" if request.htmx else "alerts/rules.html"
    return render(request, template, context)


def _row(request: HtmxHttpRequest, rule: Rule, status: int = 200, message: str = ""):
    rule = Rule.objects.select_related("alert").get(pk=rule.pk)
    return render(
        request,
        "alerts/rules.html#rule-row",
        _context(request, rule=rule, row_message=message, row_status_error=status >= 400),
        status=status,
    )


@require_POST
@login_required
@operators_only
def rule_ack(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    alert = evaluate.acknowledge(rule, request.user.get_username())
    if alert is None or alert.resolved_at is not None:
        return _row(request, rule, status=409, message="Nothing to acknowledge: it is not firing.")
    return _row(request, rule, message=f"Acknowledged by {alert.acked_by}.")


@require_POST
@login_required
@operators_only
def rule_silence(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    form = SilenceForm(request.POST)
    if not form.is_valid():
        return _row(request, rule, status=400, message="Choose how long to silence it.")
    now = timezone.now()
    evaluate.silence(rule, request.user.get_username(), now + form.duration(), now)
    return _row(request, rule, message="Silenced.")


@require_POST
@login_required
@operators_only
def rule_unsilence(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    evaluate.silence(rule, request.user.get_username(), None)
    return _row(request, rule, message="Notifications are on again.")


FIELD_GROUPS = [
    ("The rule", ["name", "enabled", "metric", "param", "window_minutes"]),
    ("When it fires", ["compare", "op", "threshold", "hold_minutes"]),
    ("Which calls (calls metrics only)", ["view", "number", "direction", "tag"]),
    ("Only during these hours", ["active_from", "active_to", "time_zone"]),
    ("Who hears about it", ["emails", "webhook_url", "webhook_secret_env"]),
]


def _rule_form_page(request, form, rule=None, status=200):
    groups = [(legend, [form[name] for name in names]) for legend, names in FIELD_GROUPS]
    context = _context(
        request,
        form=form,
        groups=groups,
        rule=rule,
        templates=TEMPLATES,
        metrics=metrics.METRICS.values(),
    )
    template = "alerts/rule_form.html#rule-form" if request.htmx else "alerts/rule_form.html"
    return render(request, template, context, status=status)


@login_required
@admin_only
def rule_create(request: HtmxHttpRequest) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    user = request.user
    if request.method == "GET":
        initial = {"time_zone": timezone.get_current_timezone_name()}
        initial.update(template_initial(request.GET.get("template", "")))
        asked = FromViewForm(request.GET)
        view_id = asked.cleaned_data["view"] if asked.is_valid() else None
        if view_id is not None:
            view = _visible_views(user).filter(pk=view_id).first()
            if view is not None:
                initial.setdefault("name", f"Calls in “{view.name}”")
                initial["view"] = view.pk
                initial.setdefault("metric", "call_count")
                initial.setdefault("op", "above")
                initial.setdefault("threshold", 0)
        return _rule_form_page(request, RuleForm(initial=initial, user=user))
    form = RuleForm(request.POST, user=user)
    if not form.is_valid():
        return _rule_form_page(request, form, status=400)
    rule = form.save(commit=False)
    now = timezone.now()
    rule.created_at = rule.updated_at = now
    rule.created_by = user.get_username()
    rule.save()
    return _after_save(request)


@login_required
@admin_only
def rule_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    rule = get_object_or_404(Rule, pk=pk)
    if request.method == "GET":
        return _rule_form_page(request, RuleForm(instance=rule, user=request.user), rule)
    form = RuleForm(request.POST, instance=rule, user=request.user)
    if not form.is_valid():
        return _rule_form_page(request, form, rule, status=400)
    rule = form.save(commit=False)
    rule.updated_at = timezone.now()
    # A changed condition starts its hold time again.
    rule.pending_since = None
    rule.save()
    return _after_save(request)


def _after_save(request) -> HttpResponse:
    url = reverse("alerts:rules")
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


@require_POST
@login_required
@admin_only
def rule_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    if not evaluate.delete_rule(pk):
        raise Http404("No such rule.")
    return _after_save(request)


# --- history ------------------------------------------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def history(request: HtmxHttpRequest) -> HttpResponse:
    before = request.GET.get("before", "")
    form = HistoryFilterForm(request.GET)
    rule_id = form.cleaned_data["rule"] if form.is_valid() else None
    alerts = Alert.objects.prefetch_related(
        Prefetch(
            "deliveries",
            queryset=Delivery.objects.order_by("created_at", "id").prefetch_related(
                Prefetch("tries", queryset=DeliveryAttempt.objects.order_by("at", "id"))
            ),
        )
    )
    if rule_id is not None:
        alerts = alerts.filter(rule_id=rule_id)
    bad_cursor = False
    try:
        page = pagination.keyset_page(alerts, "started_at", before=before, size=HISTORY_PAGE)
    except pagination.BadCursor:
        page, bad_cursor = pagination.keyset_page(alerts, "started_at", size=HISTORY_PAGE), True
    query = QueryDict(mutable=True)
    if rule_id is not None:
        query["rule"] = str(rule_id)
    context = _context(
        request, page=page, base_query=query.urlencode(), form=form, bad_cursor=bad_cursor
    )
    status = 400 if bad_cursor or form.errors else 200
    template = "alerts/history.html#history-table" if request.htmx else "alerts/history.html"
    return render(request, template, context, status=status)


# --- saved views --------------------------------------------------------------------------


def _visible_views(user):
    return SavedView.objects.filter(Q(shared=True) | Q(owner=user))


@require_GET
@login_required
def view_list(request: HtmxHttpRequest) -> HttpResponse:
    views = list(_visible_views(request.user).select_related("owner").order_by("name", "id"))
    return render(request, "alerts/views.html", _context(request, views=views))


@require_POST
@login_required
def view_save(request: HtmxHttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    may_share = can_ack(request.user)
    if form.is_valid():
        name = form.cleaned_data["name"]
        if SavedView.objects.filter(owner=request.user, name=name).exists():
            form.add_error("name", "You already have a view of that name.")
        if form.cleaned_data["shared"] and not may_share:
            form.add_error("shared", "Only operators and admins share views.")
    if not form.is_valid():
        return render(
            request,
            "alerts/_save_view.html",
            {"save_form": form, "may_share": may_share, "save_query": request.POST.get("query")},
            status=400,
        )
    view = SavedView.objects.create(
        name=form.cleaned_data["name"],
        query=form.cleaned_data["query"],
        shared=form.cleaned_data["shared"],
        owner=request.user,
        created_at=timezone.now(),
    )
    if request.htmx:
        return render(
            request,
            "alerts/_save_view.html",
            {"saved": view, "may_share": may_share, "save_query": view.query},
        )
    return HttpResponseRedirect(reverse("alerts:views"))


@require_POST
@login_required
def view_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(_visible_views(request.user), pk=pk)
    if view.owner_id != request.user.pk and not is_admin(request.user):
        return HttpResponse(
            "Only its owner or an admin deletes a view.", status=403, content_type="text/plain"
        )
    view.delete()
    return HttpResponseRedirect(reverse("alerts:views"))

"""Operator actions on calls: checked, sent through the client, and audited.

Every attempt, allowed or not, leaves one AuditEntry saying who asked what, and what the
API (or our own checks) answered. Nothing here retries: an operator sees every refusal.
"""

from __future__ import annotations

from datetime import timedelta

import redis
from django.utils import timezone

from calls import callbacks, locks, push
from calls.catalog import ACTIONS, ActionKind
from calls.catapult import CatapultClient, CatapultError, ConnectionFailed, RetryPolicy
from calls.catapult.budget import Priority
from calls.models import AuditEntry, Call

# How long an accepted action is shown as pending while the sync has not confirmed it.
PENDING_WINDOW = timedelta(minutes=2)
ACT_PERMISSION = "calls.act_on_call"
# A 429 means the API did nothing: waiting it out (briefly) and sending again is safe.
# Nothing else is retried: an operator sees every other refusal.
ACTION_RETRY = RetryPolicy(rate_limit_waits=1, max_rate_limit_wait=3.0)


def can_act(user) -> bool:
    return user.is_authenticated and user.has_perm(ACT_PERMISSION)


def available_actions(call: Call) -> list[ActionKind]:
    return [a for a in ACTIONS.values() if a.allowed_for(call)]


def is_pending(call: Call, entry: AuditEntry) -> bool:
    """An accepted action the call does not show yet.

    Once the sync has written a newer version of the call than the action, the action is
    settled either way: confirmed, or overtaken by something else that happened.
    """
    if not entry.expected_state or entry.at < timezone.now() - PENDING_WINDOW:
        return False
    if call.synced_at and call.synced_at > entry.at:
        return False
    return not is_confirmed(call, entry.expected_state)


def is_confirmed(call: Call, expected: str) -> bool:
    if expected == "recording-on":
        return call.recording_enabled
    if expected == "recording-off":
        return not call.recording_enabled
    return not expected or call.state == expected


def pending_entries(calls: list[Call]) -> dict[int, AuditEntry]:
    """Per call id, the latest accepted action the call does not show yet. One query."""
    if not calls:
        return {}
    since = timezone.now() - PENDING_WINDOW
    by_id = {call.pk: call for call in calls}
    pending: dict[int, AuditEntry] = {}
    entries = AuditEntry.objects.filter(
        call_id__in=list(by_id), outcome=AuditEntry.Outcome.ACCEPTED, at__gte=since
    ).order_by("at")
    for entry in entries:
        if is_pending(by_id[entry.call_id], entry):
            pending[entry.call_id] = entry
        else:
            pending.pop(entry.call_id, None)
    return pending


class ActionResult:
    def __init__(self, entry: AuditEntry, reason: str = ""):
        self.entry = entry
        # Why it was not sent, for the HTTP status: "role", "state" or "busy" ("" if sent).
        self.reason = reason

    @property
    def ok(self) -> bool:
        return self.entry.outcome == AuditEntry.Outcome.ACCEPTED

    @property
    def message(self) -> str:
        return self.entry.message


def perform(
    user, call: Call, name: str, params: dict | None = None, client: CatapultClient | None = None
) -> ActionResult:
    """Check and send one action on an existing call."""
    action = ACTIONS[name]
    params = params or {}
    audit = _auditor(user, call, name, params, action.expected)
    if not can_act(user):
        return audit(AuditEntry.Outcome.DENIED, "Your role can only view calls.", reason="role")
    if not action.allowed_for(call):
        return audit(AuditEntry.Outcome.DENIED, action.why_not(call), reason="state")
    try:
        lock = locks.try_acquire(f"calls:action:{call.pk}:{name}", timeout=30)
    except redis.RedisError:
        return audit(
            AuditEntry.Outcome.FAILED, "The dashboard's Redis is not reachable; try again."
        )
    if lock is None:
        return audit(AuditEntry.Outcome.DENIED, "This action is already being sent.", reason="busy")
    # Everything from the check to the audit row happens under the lock: a second click
    # either waits for the lock or finds the first one's ACCEPTED row, never a gap between.
    try:
        if _recently_accepted(call, name):
            return audit(
                AuditEntry.Outcome.DENIED,
                "Already requested; waiting for the API to confirm.",
                reason="busy",
            )
        client = client or CatapultClient.for_operators(Priority.ACTION, retry=ACTION_RETRY)
        try:
            new_id = client.update_call(call.catapult_id, **action.arguments(params))
        except ConnectionFailed as exc:
            return audit(AuditEntry.Outcome.FAILED, str(exc))
        except CatapultError as exc:
            return audit(AuditEntry.Outcome.REFUSED, str(exc), status=exc.status, code=exc.code)
        if name == "record_on":
            # It has a recording now (the recordings panel asks the API only for such
            # calls); recording_enabled itself waits for the API to confirm it.
            Call.objects.filter(pk=call.pk).update(has_recording=True)
        message = f"Transferred; the new leg is {new_id}" if new_id else "Accepted by the API"
        return audit(AuditEntry.Outcome.ACCEPTED, message, status=200, new_call_id=new_id or "")
    finally:
        locks.release(lock)


def deny_role(user, name: str, call: Call | None = None) -> ActionResult:
    """Record an attempt refused because of the user's role, before anything is parsed."""
    return _auditor(user, call, name, {}, expected="")(
        AuditEntry.Outcome.DENIED, "Your role can only view calls.", reason="role"
    )


def place_call(user, params: dict, client: CatapultClient | None = None) -> ActionResult:
    """Create an outbound call; on success the new call is fetched so it shows at once."""
    from calls import sync

    if not can_act(user):
        return deny_role(user, "place_call")
    audit = _auditor(user, None, "place_call", params, expected="")
    client = client or CatapultClient.for_operators(Priority.ACTION, retry=ACTION_RETRY)
    options = {
        "recordingEnabled": params.get("recording_enabled") or None,
        "recordingFileFormat": params.get("recording_file_format") or None,
        # Without a URL of the operator's own, the call reports to this dashboard.
        "callbackUrl": params.get("callback_url") or callbacks.own_callback_url() or None,
        "tag": params.get("tag") or None,
    }
    try:
        new_id = client.create_call(from_=params["from_number"], to=params["to"], **options)
    except ConnectionFailed as exc:
        return audit(AuditEntry.Outcome.FAILED, str(exc))
    except CatapultError as exc:
        return audit(AuditEntry.Outcome.REFUSED, str(exc), status=exc.status, code=exc.code)
    call = sync.refresh_call(client, new_id, quiet=True)
    return audit(
        AuditEntry.Outcome.ACCEPTED,
        f"Call placed: {new_id}",
        status=201,
        new_call_id=new_id,
        call=call,
    )


def _recently_accepted(call: Call, name: str) -> bool:
    """A second click after the first was accepted, before the call shows its effect."""
    since = timezone.now() - PENDING_WINDOW
    latest = (
        AuditEntry.objects.filter(
            call=call, action=name, outcome=AuditEntry.Outcome.ACCEPTED, at__gte=since
        )
        .order_by("-at")
        .first()
    )
    return latest is not None and is_pending(call, latest)


def _auditor(user, subject: Call | None, name: str, params: dict, expected: str):
    """A function that writes this attempt's one audit row with its outcome."""

    def write(
        outcome: str,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        new_call_id: str = "",
        call: Call | None = None,
        reason: str = "",
    ) -> ActionResult:
        target = call or subject
        entry = AuditEntry.objects.create(
            at=timezone.now(),
            user=user if user.is_authenticated else None,
            username=user.get_username() if user.is_authenticated else "",
            call=target,
            call_catapult_id=target.catapult_id if target else new_call_id,
            action=name,
            params=params,
            outcome=outcome,
            api_status=status,
            api_code=code[:64],
            message=message[:2000],
            expected_state=expected if outcome == AuditEntry.Outcome.ACCEPTED else "",
            new_call_id=new_call_id,
        )
        if target is not None:
            push.publish("action", {target.catapult_id: target.state})
        return ActionResult(entry, reason)

    return write

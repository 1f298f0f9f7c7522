from django.db import models
from django.db.models import Q

from calls import catalog


class Call(models.Model):
    """A Catapult call as last seen by the sync (or confirmed by a callback)."""

    class Direction(models.TextChoices):
        IN = "in", "Inbound"
        OUT = "out", "Outbound"

    class State(models.TextChoices):
        STARTED = "started", "Ringing"
        ACTIVE = "active", "Active"
        TRANSFERRING = "transferring", "Transferring"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected"
        ERROR = "error", "Error"

    LIVE_STATES = (State.STARTED, State.ACTIVE, State.TRANSFERRING)

    catapult_id = models.CharField(max_length=64, unique=True)
    direction = models.CharField(max_length=3, choices=Direction.choices, blank=True)
    from_number = models.CharField(max_length=255, blank=True)
    to_number = models.CharField(max_length=255, blank=True)
    # Digits only ('' for SIP URIs): what number search matches against.
    from_digits = models.CharField(max_length=32, blank=True)
    to_digits = models.CharField(max_length=32, blank=True)
    # The same digits reversed: "ends with" becomes "starts with", which a b-tree serves.
    from_digits_rev = models.CharField(max_length=32, blank=True)
    to_digits_rev = models.CharField(max_length=32, blank=True)
    # Choices are for display: bulk upserts do not validate them, so a state the API
    # invents is stored as it came instead of failing the sync.
    state = models.CharField(max_length=16, choices=State.choices)
    start_time = models.DateTimeField()
    active_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    chargeable_duration = models.PositiveIntegerField(null=True, blank=True)
    # Talk time in seconds (answer to end), set once the call has ended: duration filters.
    duration = models.PositiveIntegerField(null=True, blank=True)
    call_timeout = models.PositiveIntegerField(null=True, blank=True)
    # Callback URLs are stored with any password in them replaced by "***".
    callback_url = models.TextField(blank=True)
    callback_http_method = models.CharField(max_length=8, blank=True)
    callback_timeout = models.PositiveIntegerField(null=True, blank=True)
    fallback_url = models.TextField(blank=True)
    recording_enabled = models.BooleanField(default=False)
    # Sticky: once recording was on, the call has a recording even after it is turned off.
    has_recording = models.BooleanField(default=False)
    recording_file_format = models.CharField(max_length=8, blank=True)
    transcription_enabled = models.BooleanField(default=False)
    tag = models.TextField(blank=True)
    sip_headers = models.JSONField(default=dict, blank=True)
    bridge_id = models.CharField(max_length=64, blank=True)
    conference_id = models.CharField(max_length=64, blank=True)
    # From the call's hangup event: the resource itself does not carry it.
    hangup_cause = models.CharField(max_length=64, blank=True)
    raw = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField()
    synced_at = models.DateTimeField()
    # True while the call's events must be (re)read: new, changed state, or still live.
    events_pending = models.BooleanField(default=True)
    events_synced_at = models.DateTimeField(null=True, blank=True)
    # When the call's events are next due to be read (set when it ends: one read a little
    # after the hangup also catches the events the platform adds late). Null: no read is
    # due, or the call waits in the backfill queue (events_pending on a final call).
    events_due_at = models.DateTimeField(null=True, blank=True)
    # When our copy of the call last changed state (from the list, a callback or a read).
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # What was odd about the record as the API sent it (NUL characters, an unknown state,
    # an unparseable time, an over-long string): it is stored with what could be kept,
    # and the payload as received is kept in raw_original.
    oddities = models.JSONField(default=list, blank=True)
    raw_original = models.TextField(blank=True)

    class Meta:
        permissions = [("act_on_call", "Can answer, reject, hang up, transfer and record calls")]
        indexes = [
            # Calls page and sync watermark: newest first, keyset on (start_time, id).
            # On PostgreSQL it also carries what the Overview reads of a range's partial
            # edges and newest calls, so those are index-only scans: calls that started
            # together lie scattered over the table (a row moves when it is updated),
            # and fetching them cost more than the rest of the page. SQLite ignores the
            # included columns (settings.SILENCED_SYSTEM_CHECKS).
            models.Index(
                fields=["-start_time", "-id"],
                name="call_newest_idx",
                include=[
                    "direction",
                    "state",
                    "hangup_cause",
                    "active_time",
                    "duration",
                    "chargeable_duration",
                    "from_number",
                    "to_number",
                ],
            ),
            # Live calls: the sync's "oldest call still not final" and the live views.
            models.Index(
                fields=["start_time"],
                condition=Q(state__in=["started", "active", "transferring"]),
                name="call_live_idx",
            ),
            # The sync's event phase: calls whose events must be read.
            models.Index(
                fields=["start_time"],
                condition=Q(events_pending=True),
                name="call_events_pending_idx",
            ),
            # Number page: every call of one number, either party, newest first. With
            # the two numbers, also the Overview's top callers of one of the account's
            # own numbers, index-only on PostgreSQL (calls/analytics/keyed.py).
            models.Index(
                fields=["from_digits", "-start_time"],
                name="call_from_digits_idx",
                include=["direction", "from_number", "to_number"],
            ),
            models.Index(
                fields=["to_digits", "-start_time"],
                name="call_to_digits_idx",
                include=["direction", "from_number", "to_number"],
            ),
            # Calls page filtered by state (often with a date range), newest first.
            models.Index(fields=["state", "-start_time"], name="call_state_start_idx"),
            # The planner's event reads that are due (calls that just ended), oldest first.
            models.Index(
                fields=["events_due_at"],
                condition=Q(events_due_at__isnull=False),
                name="call_events_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.catapult_id

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE_STATES

    # Plain dict look-ups: get_FOO_display() costs several times more, once per row of
    # every calls table.
    @property
    def direction_label(self) -> str:
        return _DIRECTION_LABELS.get(self.direction, self.direction)

    @property
    def state_label(self) -> str:
        return _STATE_LABELS.get(self.state, self.state)  # a state the API invents, as is


_DIRECTION_LABELS = dict(Call.Direction.choices)
_STATE_LABELS = dict(Call.State.choices)


class CallEvent(models.Model):
    """One entry of a call's timeline: from GET /calls/{id}/events, or from a callback
    until the next events read of the call replaces it."""

    class Source(models.TextChoices):
        API = "api", "Events list"
        CALLBACK = "callback", "Callback"

    # No separate FK index: the (call, time) index below serves lookups by call.
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events", db_index=False)
    catapult_id = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    time = models.DateTimeField()
    data = models.TextField(blank=True)  # as the API sent it
    data_json = models.JSONField(null=True, blank=True)  # `data` parsed, where it is JSON
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    # Callback entries: when we received it. An events read that began later contains the
    # same event, so it replaces the entry (no duplicates in the timeline).
    received_at = models.DateTimeField(null=True, blank=True)
    oddity = models.CharField(max_length=200, blank=True)  # e.g. a time that did not parse

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["call", "catapult_id"], name="callevent_unique_per_call"
            ),
        ]
        indexes = [
            # A call's timeline, sorted by time (the API's list is not ordered).
            models.Index(fields=["call", "time"], name="callevent_timeline_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.catapult_id}"


class SyncRun(models.Model):
    """One sync cycle, successful or not."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCESS = "success", "Succeeded"
        # Some requests failed but the cycle made progress; the next one continues.
        PARTIAL = "partial", "Partly done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another cycle was running)"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    api_requests = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    calls_created = models.PositiveIntegerField(default=0)
    calls_updated = models.PositiveIntegerField(default=0)
    events_stored = models.PositiveIntegerField(default=0)
    # Calls whose events are still to be read when the cycle's time budget ran out.
    events_pending = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Requests that failed (after retries) and 429s that came despite the budget.
    api_errors = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)
    # Odd records stored with what could be kept (see Call.oddities); the first few named.
    warnings = models.PositiveIntegerField(default=0)
    warning = models.TextField(blank=True)
    backfill_pages = models.PositiveIntegerField(default=0)
    # The newest call start time the walk saw, set once the walk reached the previous
    # watermark: the next cycle walks back to here.
    newest_start_time = models.DateTimeField(null=True, blank=True)
    # The walk reached its end (an empty account too): what "synced N s ago" counts from.
    list_read = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Status line ("last cycle") and the next cycle's watermark look-up.
            models.Index(fields=["outcome", "-started_at"], name="syncrun_latest_idx"),
            # "Synced N s ago": the last cycle that read the list.
            models.Index(
                fields=["-started_at"], condition=Q(list_read=True), name="syncrun_list_read_idx"
            ),
            models.Index(fields=["-started_at"], name="syncrun_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None

    def summary(self) -> str:
        text = (
            f"{self.get_outcome_display()}: {self.pages} pages, {self.api_requests} API requests, "
            f"{self.calls_created} calls new, {self.calls_updated} updated, "
            f"{self.events_stored} events stored"
        )
        if self.backfill_pages:
            text += f", {self.backfill_pages} history pages"
        if self.events_pending:
            text += f", {self.events_pending} calls' events left for the next cycle"
        if self.warnings:
            text += f", {self.warnings} odd records kept"
        if self.rate_limited:
            text += f", {self.rate_limited} answered 429"
        if self.error:
            text += f" - {self.error}"
        return text


class SyncState(models.Model):
    """The sync's progress through history (one row): where the backfill stands.

    The first cycle reads the newest page; older pages are read newest first by later
    cycles with whatever budget is left after live work.
    """

    # The next page of the newest-first call list to read, as the API's own next link
    # gave it (with page numbers, new calls only push older ones to later pages, so going
    # on from here never skips one; a cursor link does not drift at all). Empty: the
    # backfill has not started, or is done.
    backfill_next_url = models.TextField(blank=True)
    backfill_started_at = models.DateTimeField(null=True, blank=True)
    backfill_done_at = models.DateTimeField(null=True, blank=True)
    backfill_calls = models.PositiveIntegerField(default=0)  # calls read by the backfill
    backfill_oldest = models.DateTimeField(null=True, blank=True)  # oldest start time reached

    def __str__(self) -> str:
        return "sync state"

    @classmethod
    def get(cls) -> "SyncState":
        state, _ = cls.objects.get_or_create(pk=1)
        return state


class AuditEntry(models.Model):
    """One operator action attempt and what the API answered. Append-only."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted by the API"
        REFUSED = "refused", "Refused by the API"
        FAILED = "failed", "API unreachable"
        DENIED = "denied", "Not allowed"

    at = models.DateTimeField()
    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)  # kept if the user is deleted
    call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    call_catapult_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)  # what was asked
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    api_status = models.PositiveIntegerField(null=True, blank=True)
    api_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)  # what the API (or the server) answered, in words
    # The state the call should reach if the action works: drives "pending" on the page.
    expected_state = models.CharField(max_length=16, blank=True)
    new_call_id = models.CharField(max_length=64, blank=True)  # transfer B-leg / placed call

    class Meta:
        indexes = [
            # Audit page, newest first (optionally by operator): keyset on (at, id).
            models.Index(fields=["-at", "-id"], name="audit_newest_idx"),
            models.Index(fields=["username", "-at"], name="audit_by_user_idx"),
            # A call's timeline and pending-action look-ups.
            models.Index(fields=["call", "at"], name="audit_call_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.action} {self.call_catapult_id} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are append-only")

    @property
    def action_label(self) -> str:
        return catalog.label(self.action)


class CallbackEvent(models.Model):
    """A callback (webhook) Catapult delivered, stored before any work is done with it."""

    received_at = models.DateTimeField()
    event_type = models.CharField(max_length=64)
    # The call it concerns; for transcriptions (no callId) found through the recording.
    call_catapult_id = models.CharField(max_length=64, blank=True)
    recording_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    # Hash of the payload: a duplicate delivery is recognised and changes nothing.
    digest = models.CharField(max_length=64, unique=True)
    # When it was applied to the call (or found to concern no call we can name).
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Transcription callbacks carry no callId: the recording callback names it.
            models.Index(fields=["event_type", "recording_id"], name="callback_recording_idx"),
            # Pruning old deliveries and the admin's newest-first list.
            models.Index(fields=["-received_at"], name="callback_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.call_catapult_id}"


class CallRollup(models.Model):
    """Calls counted per quarter hour of their start (UTC), direction, state and cause.

    Kept exact by database triggers on the calls table (calls/analytics/triggers.py), so
    every writer (the sync's bulk upserts, callbacks, actions, retention) moves a call
    between rows in the same transaction as its own write. Quarter hours because every
    time zone in use today is offset from UTC by a multiple of 15 minutes: a viewer's
    local hours and days are whole sets of these rows, DST days included.
    """

    bucket = models.DateTimeField()
    direction = models.CharField(max_length=3)
    state = models.CharField(max_length=16)
    hangup_cause = models.CharField(max_length=64)
    calls = models.BigIntegerField(default=0)
    answered = models.BigIntegerField(default=0)  # calls with an answer time
    timed = models.BigIntegerField(default=0)  # calls with a talk time (ended, answered)
    talk_seconds = models.BigIntegerField(default=0)
    chargeable_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The triggers' upsert target; also serves the overview's range scans.
            models.UniqueConstraint(
                fields=["bucket", "direction", "state", "hangup_cause"], name="callrollup_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.direction} {self.state} {self.calls}"


class KeyedRollup(models.Model):
    """CallRollup's counts, split further by one more key: the account's own number on
    the call (`own`: the caller of an outbound call, the callee of any other) or the
    call's tag (`tag`). The overview filtered by a number or a tag counts from these
    instead of the calls. Kept by the same triggers as CallRollup.

    `key` is the own number's digits, or the tag itself; on PostgreSQL a tag longer than
    KEY_TEXT_MAX is keyed by its md5 (an index entry has a size limit). RollupKey maps
    every key back to its text, which is what filters match.
    """

    KINDS = ("own", "tag")

    bucket = models.DateTimeField()
    kind = models.CharField(max_length=3)
    key = models.TextField()
    direction = models.CharField(max_length=3)
    state = models.CharField(max_length=16)
    hangup_cause = models.CharField(max_length=64)
    calls = models.BigIntegerField(default=0)
    answered = models.BigIntegerField(default=0)
    timed = models.BigIntegerField(default=0)
    talk_seconds = models.BigIntegerField(default=0)
    chargeable_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The triggers' upsert target; its leading (kind, key, bucket) also serves
            # the overview's reads: the keys a filter matches, over a range.
            models.UniqueConstraint(
                fields=["kind", "key", "bucket", "direction", "state", "hangup_cause"],
                name="keyedrollup_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.key} {self.bucket:%Y-%m-%d %H:%M} {self.state} {self.calls}"


class RollupKey(models.Model):
    """Every key KeyedRollup has used, with the text it stands for: a filter is matched
    against these few rows (the account's numbers, its tags), never against the rollups.
    Rows are never removed (a key that counts nothing any more costs one row)."""

    kind = models.CharField(max_length=3)
    key = models.TextField()
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="rollupkey_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.text[:40]}"


class ConcurrencyPeak(models.Model):
    """The most calls live at once during a closed quarter hour (UTC): a cache.

    Computed on first use from the calls; the triggers delete the slots a changed call
    covers, so a cached figure is never stale.
    """

    slot = models.DateTimeField(unique=True)
    peak = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.slot:%Y-%m-%d %H:%M} {self.peak}"

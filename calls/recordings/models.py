from django.db import models


class Recording(models.Model):
    """A Catapult recording as last seen: from its callback, a call's recordings list or
    the account-wide list (whichever came first; the others fill in what it lacked)."""

    class State(models.TextChoices):  # the API's own values
        RECORDING = "recording", "Recording"
        SAVING = "saving", "Saving"
        COMPLETE = "complete", "Complete"
        ERROR = "error", "Error"

    class Transcription(models.TextChoices):
        NONE = "", "None"
        TRANSCRIBING = "transcribing", "Transcribing"
        COMPLETED = "completed", "Completed"
        ERROR = "error", "Error"

    FINAL_STATES = (State.COMPLETE, State.ERROR)

    catapult_id = models.CharField(max_length=64, unique=True)
    # The call, once we have it; its Catapult id always (a recording can arrive first).
    call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="recordings"
    )
    call_catapult_id = models.CharField(max_length=64, blank=True)
    # Stored as sent (choices are for display): an unknown state is shown as it came.
    state = models.CharField(max_length=16, choices=State.choices)
    # Never empty: the Recordings page pages on it. A payload without one gets the time
    # we first saw the recording.
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True)  # seconds, once ended
    # The API's URL of the file ("…/media/{callId}-{n}.wav"); recording callbacks do
    # not carry it, the lists do.
    media_url = models.TextField(blank=True)
    file_format = models.CharField(max_length=8, blank=True)
    transcription_id = models.CharField(max_length=64, blank=True)
    transcription_state = models.CharField(max_length=16, choices=Transcription.choices, blank=True)
    transcription_text = models.TextField(blank=True)  # the first ~1000 characters
    transcription_text_url = models.TextField(blank=True)  # the full text, at the API
    raw = models.JSONField(default=dict, blank=True)  # the last list payload, as sent
    first_seen_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Recordings page: newest first, keyset on (start_time, id).
            models.Index(fields=["-start_time", "-id"], name="recording_newest_idx"),
            # Recordings page filtered by state, newest first.
            models.Index(fields=["state", "-start_time"], name="recording_state_idx"),
            # A call's recordings (its page), also before the call itself is stored.
            models.Index(fields=["call_catapult_id"], name="recording_call_cid_idx"),
        ]

    def __str__(self) -> str:
        return self.catapult_id

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def is_complete(self) -> bool:
        return self.state == self.State.COMPLETE

    @property
    def playable(self) -> bool:
        return self.state == self.State.COMPLETE and bool(self.media_url)

    @property
    def state_label(self) -> str:
        return _STATE_LABELS.get(self.state, self.state)

    @property
    def media_name(self) -> str:
        """The file's name at the API (`{callId}-{n}.wav`), '' when unknown."""
        return self.media_url.rstrip("/").rsplit("/", 1)[-1] if self.media_url else ""


_STATE_LABELS = dict(Recording.State.choices)


class PlaybackSettings(models.Model):
    """Who may listen to recordings (one row, edited in the admin). Operators and admins
    always may; viewers only when an admin allows it."""

    viewers_may_listen = models.BooleanField(
        default=False,
        help_text="Let users with the viewer role play and download recordings.",
    )

    class Meta:
        verbose_name = "playback settings"
        verbose_name_plural = "playback settings"

    def __str__(self) -> str:
        return "Playback settings"

    @classmethod
    def get(cls) -> "PlaybackSettings":
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings


class RecordingSync(models.Model):
    """Where the reading of the account's recordings history stands (one row)."""

    # The API's own next link into older recordings ("" : not started, or done).
    history_next_url = models.TextField(blank=True)
    history_started_at = models.DateTimeField(null=True, blank=True)
    history_done_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)  # the newest page, last read
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return "recordings sync"

    @classmethod
    def get(cls) -> "RecordingSync":
        state, _ = cls.objects.get_or_create(pk=1)
        return state

"""The account's recordings, read from `GET /recordings` (newest first), every interval.

It runs beside the calls cycle as a task of its own: `/recordings` is its own rate-limit
family with its own bucket in the shared budget, so these reads never take a /calls token
and a slow recordings list never delays the calls cycle (whose request counts stay what
they measure: the /calls budget).

Each run reads the newest page(s) until it reaches a recording already stored as final:
everything older was read before. Recordings older than that which change later (a long
one still going) are brought by their callback or the call page's read. The very first run
reads one page and leaves older pages to the history walk, one page per run, at backfill
priority, from the API's own next link.
"""

from __future__ import annotations

import logging

import redis
from django.utils import timezone

from calls import locks
from calls.catapult import CatapultClient, CatapultError
from calls.catapult.budget import Priority
from calls.recordings import store
from calls.recordings.models import Recording, RecordingSync

log = logging.getLogger(__name__)

LOCK_NAME = "recordings:sync"
LOCK_SECONDS = 300
RECENT_PAGE_SIZE = 100  # the newest page is read every interval: small is cheap to parse
HISTORY_PAGE_SIZE = 1000
MAX_RECENT_PAGES = 10  # a burst of more than 1,000 new recordings: the history walk goes on


def run(client: CatapultClient | None = None) -> str:
    """One run unless another is going on; returns its one-line summary."""
    from calls.sync import sync_retry_policy

    try:
        lock = locks.try_acquire(LOCK_NAME, LOCK_SECONDS)
    except redis.RedisError as exc:
        return f"Recordings sync skipped: Redis unreachable ({type(exc).__name__})"
    if lock is None:
        return "Recordings sync skipped: another run is going on"
    try:
        client = client or CatapultClient.from_settings(retry=sync_retry_policy())
        summary = sync_step(client)
    finally:
        locks.release(lock)
    log.info("Recordings sync: %s", summary)
    return summary


def sync_step(client: CatapultClient) -> str:
    """Read the newest recordings, then one page of history. Requests: the recordings
    family only."""
    state = RecordingSync.get()
    before = client.requests_made
    try:
        recent_pages, changed = _read_recent(client, state)
        history_pages, history_changed = _read_history(client, state)
        state.last_error = ""
    except CatapultError as exc:
        state.last_error = f"Reading the recordings list: {exc}"[:2000]
        state.save()
        return state.last_error
    linked = store.link_orphans()
    state.last_read_at = timezone.now()
    state.save()
    return (
        f"{recent_pages} newest pages, {history_pages} history pages, "
        f"{changed + history_changed} recordings new or changed, {linked} linked to their call, "
        f"{client.requests_made - before} API requests"
    )


def _read_recent(client: CatapultClient, state: RecordingSync) -> tuple[int, int]:
    first_run = state.history_started_at is None
    pages = changed = 0
    with client.at(Priority.LIST):
        for page in client.list_account_recordings(size=RECENT_PAGE_SIZE):
            pages += 1
            reached_known = Recording.objects.filter(
                catapult_id__in=[item["id"][:64] for item in page],
                state__in=Recording.FINAL_STATES,
            ).exists()
            changed += store.store_items(page)[1]
            if first_run:
                state.history_started_at = timezone.now()
                state.history_next_url = client.next_page_url or ""
                if not state.history_next_url:
                    state.history_done_at = state.history_started_at
                state.save()
                break
            if reached_known or pages >= MAX_RECENT_PAGES:
                break
    return pages, changed


def _read_history(client: CatapultClient, state: RecordingSync) -> tuple[int, int]:
    if not state.history_next_url:
        return 0, 0
    with client.at(Priority.BACKFILL):
        pages = client.list_account_recordings(start_url=state.history_next_url)
        page = next(pages, None)
        changed = store.store_items(page)[1] if page is not None else 0
        state.history_next_url = client.next_page_url or ""
        if not state.history_next_url:
            state.history_done_at = timezone.now()
        state.save()
    return (1 if page is not None else 0), changed

"""The server-sent-events stream every open page holds: what changed, as it changes.

One async view, fed by the Redis Stream that every writer appends to (calls.push). The
page names where it is (`Last-Event-ID` on a reconnect, or the position it was rendered
at); the stream replays what it missed and then follows live. When the gap is larger
than the Stream keeps, it says "reset" and the page refreshes its regions whole.

Under an ASGI server each open stream is a coroutine waiting on Redis, not a thread.
"""

from __future__ import annotations

import json
import re

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from calls import metrics, push
from calls.locks import redis_client

HEARTBEAT_SECONDS = 15
READ_TIMEOUT_SECONDS = HEARTBEAT_SECONDS + 10
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def current_position() -> str:
    """The id of the newest change, for a page to start its stream from ("0-0": none)."""
    try:
        newest = redis_client().xrevrange(push.STREAM, count=1)
    except Exception:  # noqa: BLE001 - no Redis: the page polls instead
        return "0-0"
    return newest[0][0].decode() if newest else "0-0"


@require_GET
async def call_stream(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("Log in first", status=401, content_type="text/plain")
    if not hasattr(request, "scope"):
        # A WSGI server (e.g. the test server) would buffer an endless stream whole: 204
        # tells EventSource not to retry, and the page keeps polling instead.
        return HttpResponse(status=204)
    # The login check used the database: an open stream must not hold a connection.
    await sync_to_async(_release_database)()
    start = request.headers.get("Last-Event-ID") or request.GET.get("from") or ""
    if not _STREAM_ID.match(start):
        start = "$"  # only what happens from now on
    response = StreamingHttpResponse(
        _events(request.session.session_key, start), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _events(session_key: str | None, position: str):
    client = aioredis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=5,
        # Longer than the blocking read below waits, or every quiet stream would end.
        socket_timeout=READ_TIMEOUT_SECONDS,
    )
    await sync_to_async(metrics.stream_opened, thread_sensitive=False)()
    try:
        yield "retry: 2000\n\n"
        if position != "$" and await _gap(client, position):
            yield "event: reset\ndata: {}\n\n"
            position = "$"
        while True:
            batch = await client.xread(
                {push.STREAM: position}, block=HEARTBEAT_SECONDS * 1000, count=200
            )
            if not batch:
                yield ": heartbeat\n\n"
                if not await _session_alive(session_key):
                    yield "event: logout\ndata: {}\n\n"
                    return
                continue
            for _stream, entries in batch:
                for entry_id, fields in entries:
                    message = push.message(entry_id, fields)
                    position = message["id"]
                    yield f"id: {position}\nevent: change\ndata: {json.dumps(message)}\n\n"
    finally:
        await sync_to_async(metrics.stream_closed, thread_sensitive=False)()
        await client.aclose()


async def _gap(client, position: str) -> bool:
    """True when entries after `position` were trimmed away: replay would miss some."""
    oldest = await client.xrange(push.STREAM, count=1)
    if not oldest:
        return False
    first = oldest[0][0].decode()
    return _as_tuple(first) > _as_tuple(position) and position != "0-0"


def _as_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _release_database() -> None:
    """Close this thread's connection: a thousand open pages must not hold a thousand
    database connections. (Not inside a transaction: a test's, which must go on.)"""
    if not connection.in_atomic_block:
        connection.close()


@sync_to_async(thread_sensitive=False)
def _session_alive(session_key: str | None) -> bool:
    try:
        return bool(session_key) and SessionStore().exists(session_key)
    finally:
        _release_database()

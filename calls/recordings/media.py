"""A recording's audio, from Catapult to the browser, through our own view.

The browser never talks to Catapult: the API's Basic credentials stay on the server, and
the browser gets only what it asked for. A player asks for byte ranges (to read the
header, to seek); each one is passed on as the Range header of one media request, in the
`/media` family's own budget, and the answer streamed back in chunks as it arrives.

If Catapult ignores the Range (its docs do not say it honours one) and sends the whole
file, the asked-for slice is cut out of the stream here, so seeking still works.

Audit rule: one audit row per playback start. A player sends many Range requests for one
playback, but it starts reading a file at byte 0: so a request is audited when it has no
Range header or its range starts at byte 0, and not when a row for the same user,
recording and action was written in the last AUDIT_REPEAT_SECONDS (a player may read the
start twice: once for `preload="metadata"`, once when played). Seeks (ranges that start
later) are never audited. With `preload="metadata"` a call page fetches the start of its
recordings as it opens, so a row means "the audio reached this user's browser", which is
what an audit of listening can know. Downloads (`?download=1`) are audited the same way
under their own action name.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from calls.actions import can_act
from calls.models import AuditEntry
from calls.recordings.models import PlaybackSettings, Recording

PLAY = "play_recording"
DOWNLOAD = "download_recording"
AUDIT_REPEAT_SECONDS = 10
CHUNK_BYTES = 64 * 1024
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# What a 206 must say it holds (RFC 9110: one range, the total possibly unknown).
_CONTENT_RANGE = re.compile(r"^bytes \d{1,18}-\d{1,18}/(\d{1,18}|\*)$")
_MEDIA_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def may_listen(user) -> bool:
    """Operators and admins always; viewers when the admin setting allows it."""
    if not user.is_authenticated:
        return False
    return can_act(user) or PlaybackSettings.get().viewers_may_listen


# --- ranges ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    """One byte range as asked: start..end inclusive, end None = to the end; or a suffix
    (the last `suffix` bytes)."""

    start: int | None
    end: int | None
    suffix: int | None = None

    @property
    def header(self) -> str:
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        return f"bytes={self.start}-{'' if self.end is None else self.end}"

    def resolve(self, size: int) -> tuple[int, int] | None:
        """The inclusive bounds within a file of `size` bytes; None when outside it."""
        if self.suffix is not None:
            return (max(0, size - self.suffix), size - 1) if self.suffix and size else None
        if self.start >= size:
            return None
        return self.start, size - 1 if self.end is None else min(self.end, size - 1)


def parse_range(header: str | None) -> ByteRange | None:
    """The one byte range a Range header asks for; None for none, or for one we ignore
    (malformed, backwards or several ranges: RFC 9110 lets a server send the whole file)."""
    match = _RANGE.match((header or "").strip())
    if match is None:
        return None
    first, last = match.groups()
    if len(first) > 18 or len(last) > 18:
        return None  # no file is that big: not a range we can mean
    if first:
        start, end = int(first), int(last) if last else None
        return None if end is not None and end < start else ByteRange(start, end)
    return ByteRange(None, None, suffix=int(last)) if last else None


def starts_playback(header: str | None) -> bool:
    """No Range, or a range from byte 0: how a player starts reading a file."""
    wanted = parse_range(header)
    return wanted is None or wanted.start == 0


# --- which file --------------------------------------------------------------------------


def media_name(rec: Recording) -> str | None:
    """The file's name at our account's media resource; None when the recording's media
    URL points anywhere else (another account or server): never sent our credentials."""
    if not rec.media_url:
        return None
    parts = urlsplit(rec.media_url)
    ours = urlsplit(settings.CATAPULT_BASE_URL)
    if (parts.scheme.lower(), parts.netloc.lower()) != (ours.scheme.lower(), ours.netloc.lower()):
        return None
    prefix = f"/v1/users/{settings.CATAPULT_USER_ID}/media/"
    if not parts.path.startswith(prefix):
        return None
    name = parts.path[len(prefix) :]
    return name if _MEDIA_NAME.match(name) and name not in (".", "..") else None


# --- audit -------------------------------------------------------------------------------


def audit(user, rec: Recording, action: str, outcome: str, message: str, **extra) -> None:
    """The playback start's one audit row (see the module docstring for the rule)."""
    since = timezone.now() - timedelta(seconds=AUDIT_REPEAT_SECONDS)
    repeated = AuditEntry.objects.filter(
        username=user.get_username(),
        action=action,
        call_catapult_id=rec.call_catapult_id,
        params__recording=rec.catapult_id,
        outcome=outcome,
        at__gte=since,
    ).exists()
    if repeated:
        return
    # No call link: the call's timeline shows what happened to the call, not who listened;
    # the audit page links the call by its id.
    AuditEntry.objects.create(
        at=timezone.now(),
        user=user,
        username=user.get_username(),
        call=None,
        call_catapult_id=rec.call_catapult_id,
        action=action,
        params={"recording": rec.catapult_id},
        outcome=outcome,
        api_status=extra.get("status"),
        api_code=(extra.get("code") or "")[:64],
        message=message[:2000],
    )


# --- the answer --------------------------------------------------------------------------


@dataclass
class Plan:
    """What to send the browser for one upstream answer: status, headers, and how many
    bytes of the upstream body to skip and to pass (None: all of it). `problem`: the
    upstream answer cannot be passed on (the view answers 502 with it)."""

    status: int
    headers: dict
    skip: int = 0
    length: int | None = None
    problem: str = ""


def plan(upstream_status: int, upstream: dict, wanted: ByteRange | None, fmt: str) -> Plan:
    content_type = upstream.get("Content-Type", "")
    if not content_type.startswith("audio/"):
        content_type = CONTENT_TYPES.get(fmt, "application/octet-stream")
    headers = {"Content-Type": content_type, "Accept-Ranges": "bytes"}
    size_text = upstream.get("Content-Length", "")
    size = int(size_text) if size_text.isdigit() else None
    if upstream_status == 416:
        total = upstream.get("Content-Range", "")
        return Plan(416, {"Content-Range": total} if total.startswith("bytes */") else {}, 0, 0)
    if upstream_status == 206:
        content_range = upstream.get("Content-Range", "").strip()
        if not _CONTENT_RANGE.match(content_range):
            # Part of the file, but which part is not said: nothing a player can use.
            return Plan(
                502,
                {},
                0,
                0,
                problem="The API sent part of the recording without saying which part "
                "(no valid Content-Range)",
            )
        headers["Content-Range"] = content_range
        if size is not None:
            headers["Content-Length"] = str(size)
        return Plan(206, headers, 0, size)
    # 200: the whole file. If a range was asked for, the API ignored it: cut it out here.
    if wanted is not None and size is not None:
        bounds = wanted.resolve(size)
        if bounds is None:
            return Plan(416, {"Content-Range": f"bytes */{size}"}, 0, 0)
        start, end = bounds
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        return Plan(206, headers, start, end - start + 1)
    if size is not None:
        headers["Content-Length"] = str(size)
    return Plan(200, headers, 0, size)


def body(stream, plan: Plan) -> Iterator[bytes]:
    """The planned bytes of an upstream stream, in chunks; closes it whatever happens."""
    try:
        yield from _slice(stream.chunks(CHUNK_BYTES), plan.skip, plan.length)
    finally:
        stream.close()


async def body_async(stream, plan: Plan) -> AsyncIterator[bytes]:
    """The same for an ASGI server, which would otherwise read a sync iterator whole
    before sending a byte. Chunks are read in worker threads (not the one thread sync
    views share), so a slow API holds up only this response."""
    from asgiref.sync import sync_to_async

    pieces = _slice(stream.chunks(CHUNK_BYTES), plan.skip, plan.length)
    read = sync_to_async(next, thread_sensitive=False)
    try:
        while True:
            chunk = await read(pieces, None)
            if chunk is None:
                return
            yield chunk
    finally:
        stream.close()  # also when the browser went away (the response is cancelled)


def _slice(chunks: Iterator[bytes], skip: int, length: int | None) -> Iterator[bytes]:
    left = length
    for chunk in chunks:
        if skip:
            if len(chunk) <= skip:
                skip -= len(chunk)
                continue
            chunk, skip = chunk[skip:], 0
        if left is not None:
            chunk = chunk[:left]
            left -= len(chunk)
        if chunk:
            yield chunk
        if left is not None and left <= 0:
            return

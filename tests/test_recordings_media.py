"""The media view: a recording's audio from the simulator, over real HTTP, in byte ranges,
behind our login and role checks, audited once per playback start, no secret ever shown."""

import base64
import gzip
import io
import logging
import threading
import wave
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calls.catapult import CatapultClient
from calls.models import AuditEntry
from calls.recordings import media, store
from calls.recordings.models import PlaybackSettings, Recording
from tests.conftest import SIM_SECRET, SIM_TOKEN

pytestmark = pytest.mark.django_db

SECRETS = (
    SIM_SECRET,
    base64.b64encode(f"{SIM_TOKEN}:{SIM_SECRET}".encode()).decode(),
)


def recorded(sim, api, seconds=6.0) -> Recording:
    """A complete recording in the simulator, stored as the call page's read stores it."""
    call_id = sim.create_inbound_call(auto_answer=True)
    sim.advance(1)
    api.update_call(call_id, recording_enabled=True)
    sim.advance(seconds)
    api.update_call(call_id, recording_enabled=False)
    sim.advance(2)
    rows, _ = store.store_items(api.list_recordings(call_id))
    assert rows[0].state == "complete" and rows[0].media_url
    return rows[0]


@pytest.fixture
def rec(sim, catapult_settings, client_for):
    return recorded(sim, client_for())


def url(rec):
    return f"/recordings/{rec.catapult_id}/media/"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def assert_no_secret(response, caplog=None):
    shown = [str(response.headers)]
    if getattr(response, "streaming", False):
        shown.append(repr(body(response)[:100_000]))
    else:
        shown.append(response.content.decode("latin-1"))
    if caplog is not None:
        shown.append(caplog.text)
    for secret in SECRETS:
        assert all(secret not in text for text in shown)


def plays():
    return AuditEntry.objects.filter(action=media.PLAY)


def test_a_full_get_streams_the_whole_wav(client, operator, rec, sim, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(operator)
    response = client.get(url(rec))
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/wav"
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(rec.duration, abs=1)
    assert "inline" in response["Content-Disposition"]
    for secret in SECRETS:
        assert secret not in caplog.text and secret not in str(response.headers)
    assert sim.stats()["by_route"].get("GET /media/{name}") == 1


def test_ranges_are_206_with_the_right_bytes(client, operator, rec, sim):
    client.force_login(operator)
    whole = body(client.get(url(rec)))
    for header, start, end in (
        ("bytes=0-1023", 0, 1023),
        ("bytes=5000-", 5000, len(whole) - 1),
        ("bytes=-100", len(whole) - 100, len(whole) - 1),
    ):
        response = client.get(url(rec), HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert response["Content-Range"] == f"bytes {start}-{end}/{len(whole)}"
        assert body(response) == whole[start : end + 1]
        assert int(response["Content-Length"]) == end - start + 1


def test_a_range_outside_the_file_is_416_and_a_malformed_one_gets_the_whole_file(
    client, operator, rec
):
    client.force_login(operator)
    size = len(body(client.get(url(rec))))
    response = client.get(url(rec), HTTP_RANGE=f"bytes={size + 10}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"
    assert_no_secret(response)
    for header in ("bytes=oops", "bytes=10-2", "bytes=0-1,4-5", "bytes=" + "9" * 40 + "-"):
        whole = client.get(url(rec), HTTP_RANGE=header)
        assert whole.status_code == 200 and len(body(whole)) == size, header


def test_an_api_that_ignores_range_still_gives_206():
    """Catapult's docs do not say its media honours Range: if it sends the whole file, the
    asked-for slice is cut out of the stream here."""
    whole = bytes(range(256)) * 4
    plan = media.plan(
        200, {"Content-Length": str(len(whole))}, media.parse_range("bytes=300-399"), "wav"
    )
    assert (plan.status, plan.skip, plan.length) == (206, 300, 100)
    assert plan.headers["Content-Range"] == f"bytes 300-399/{len(whole)}"
    assert plan.headers["Content-Type"] == "audio/wav"
    pieces = [whole[i : i + 64] for i in range(0, len(whole), 64)]
    assert b"".join(media._slice(iter(pieces), plan.skip, plan.length)) == whole[300:400]
    beyond = media.plan(200, {"Content-Length": "50"}, media.parse_range("bytes=60-"), "mp3")
    assert beyond.status == 416 and beyond.headers["Content-Range"] == "bytes */50"
    unknown_size = media.plan(200, {}, media.parse_range("bytes=60-"), "mp3")
    assert unknown_size.status == 200 and unknown_size.length is None


def test_unknown_recording_and_another_accounts_recording_are_404(client, operator, rec, sim):
    client.force_login(operator)
    assert client.get("/recordings/rec-doesnotexist/media/").status_code == 404
    other = Recording.objects.create(
        catapult_id="rec-otheraccount",
        call_catapult_id="c-other",
        state="complete",
        start_time=rec.start_time,
        media_url=rec.media_url.replace("/users/u-test/", "/users/u-someone-else/"),
        file_format="wav",
        first_seen_at=rec.first_seen_at,
        updated_at=rec.updated_at,
    )
    elsewhere = Recording.objects.create(
        catapult_id="rec-otherserver",
        call_catapult_id="c-other",
        state="complete",
        start_time=rec.start_time,
        media_url="https://media.example.net/v1/users/u-test/media/c-other-1.wav",
        file_format="wav",
        first_seen_at=rec.first_seen_at,
        updated_at=rec.updated_at,
    )
    sim.reset_stats()
    for row in (other, elsewhere):
        response = client.get(url(row))
        assert response.status_code == 404
        assert_no_secret(response)
    assert sim.stats()["requests"] == 0  # our credentials went nowhere
    # The API itself has no such file (our account, an unknown name): 404 too.
    Recording.objects.filter(pk=other.pk).update(
        media_url=rec.media_url.rsplit("/", 1)[0] + "/c-aaaaaaaaaaaaaaaaaaaaaaaaa-1.wav"
    )
    assert client.get(url(other)).status_code == 404


def test_viewers_listen_only_when_the_admin_allows_it(client, viewer, rec):
    client.force_login(viewer)
    denied = client.get(url(rec))
    assert denied.status_code == 403
    assert_no_secret(denied)
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.DENIED
    settings_row = PlaybackSettings.get()
    settings_row.viewers_may_listen = True
    settings_row.save()
    allowed = client.get(url(rec))
    assert allowed.status_code == 200 and body(allowed)[:4] == b"RIFF"


def test_logged_out_is_sent_to_log_in(client, rec):
    response = client.get(url(rec))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_one_audit_row_per_playback_start(client, operator, rec):
    client.force_login(operator)
    body(client.get(url(rec), HTTP_RANGE="bytes=0-"))  # the player starts (metadata)
    body(client.get(url(rec), HTTP_RANGE="bytes=0-"))  # ... and again when played
    body(client.get(url(rec), HTTP_RANGE="bytes=20000-"))  # a seek
    body(client.get(url(rec), HTTP_RANGE="bytes=40000-"))  # another
    entry = plays().get()
    assert entry.username == "otto" and entry.outcome == AuditEntry.Outcome.ACCEPTED
    assert entry.params == {"recording": rec.catapult_id}
    assert entry.call_catapult_id == rec.call_catapult_id
    # A later playback start is a new row.
    AuditEntry.objects.filter(pk=entry.pk).update(at=entry.at.replace(year=entry.at.year - 1))
    body(client.get(url(rec)))
    assert plays().count() == 2
    body(client.get(url(rec) + "?download=1"))
    download = AuditEntry.objects.get(action=media.DOWNLOAD)
    assert download.params == {"recording": rec.catapult_id}
    with pytest.raises(ValueError):
        download.delete()  # append-only


def test_download_is_an_attachment(client, operator, rec):
    client.force_login(operator)
    response = client.get(url(rec) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{rec.catapult_id}.wav"'
    assert response["Cache-Control"] == "private, no-store"


def test_api_failures_are_plain_errors_never_500(client, operator, rec, sim):
    client.force_login(operator)
    sim.faults.add("error", path=r"^/media/", status=503)
    failed = client.get(url(rec))
    assert failed.status_code == 502
    assert_no_secret(failed)
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.FAILED
    sim.faults.add("rate_limited", path=r"^/media/", delay=1)
    busy = client.get(url(rec), HTTP_RANGE="bytes=100-")
    assert busy.status_code == 503 and busy["Retry-After"] == "1"
    sim.faults.add("reset", path=r"^/media/")
    assert client.get(url(rec), HTTP_RANGE="bytes=100-").status_code == 502


def test_a_recording_known_only_from_its_callback_is_fetched_by_id(
    client, operator, sim, catapult_settings, client_for
):
    rec = recorded(sim, client_for())
    Recording.objects.filter(pk=rec.pk).update(media_url="")
    client.force_login(operator)
    sim.reset_stats()
    response = client.get(url(rec), HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206 and len(body(response)) == 100
    assert sim.stats()["by_route"] == {"GET /recordings/{id}": 1, "GET /media/{name}": 1}


def test_the_media_family_spends_its_own_budget(client, operator, rec, settings):
    from calls.catapult.budget import RateLimiter
    from calls.locks import redis_client

    settings.CATAPULT_RATE_LIMIT = 1
    client.force_login(operator)
    body(client.get(url(rec)))
    limiter = RateLimiter(redis_client(), 1)
    assert limiter.spent("media") == {"action": 1}
    assert limiter.spent("calls") == {}


class Upstream:
    """A media server answering as the simulator cannot: it gzips whatever it serves when
    the request accepts gzip (as a proxy in front of an API may), or it answers every
    request 206 without a Content-Range. Records each request's headers."""

    FILE = bytes(range(256)) * 64  # compresses well: the sizes differ a lot

    def __init__(self, *, no_content_range: bool = False):
        upstream = self
        self.seen: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                upstream.seen.append(dict(self.headers))
                body, extra = upstream.FILE, {}
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    body, extra = gzip.compress(body), {"Content-Encoding": "gzip"}
                self.send_response(206 if no_content_range else 200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_media_is_asked_for_unencoded_so_its_length_is_the_bytes_sent():
    with Upstream() as upstream:
        api = CatapultClient(upstream.url, "u-test", "t", "s")
        stream = api.open_media("c-1-1.wav")
        data = b"".join(stream.chunks())
        stream.close()
    assert upstream.seen[0]["Accept-Encoding"] == "identity"
    assert int(stream.headers["Content-Length"]) == len(data) == len(Upstream.FILE)
    assert data == Upstream.FILE


def test_a_206_without_content_range_is_a_502_not_an_empty_header(client, operator, settings):
    assert media.plan(206, {"Content-Length": "10"}, None, "wav").status == 502
    bogus = media.plan(206, {"Content-Range": "bytes oops"}, None, "wav")
    assert bogus.status == 502 and bogus.problem
    good = media.plan(206, {"Content-Range": "bytes 0-9/100", "Content-Length": "10"}, None, "")
    assert good.status == 206 and good.headers["Content-Range"] == "bytes 0-9/100"
    with Upstream(no_content_range=True) as upstream:
        settings.CATAPULT_BASE_URL = upstream.url
        settings.CATAPULT_USER_ID = "u-test"
        now = datetime(2026, 3, 1, tzinfo=UTC)
        rec = Recording.objects.create(
            catapult_id="rec-partial",
            state=Recording.State.COMPLETE,
            start_time=now,
            media_url=f"{upstream.url}/v1/users/u-test/media/c-partial-1.wav",
            file_format="wav",
            first_seen_at=now,
            updated_at=now,
        )
        client.force_login(operator)
        response = client.get(url(rec), HTTP_RANGE="bytes=0-99")
    assert response.status_code == 502
    assert "Content-Range" not in response
    assert "without saying which part" in response.content.decode()
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.FAILED

"""The change stream: every writer announces, an open page hears it at once, a page that
reconnects gets what it missed, and a stream ends with its session."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from calls import push, stream, sync
from calls.locks import redis_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_stream():
    redis_client().delete(push.STREAM)


def _read(response, events: int, names=("change", "reset", "logout")) -> list[tuple[str, dict]]:
    """The first `events` named events of a streaming response (then the stream is left)."""

    async def collect():
        got, buffer = [], ""
        iterator = response.streaming_content.__aiter__()
        while len(got) < events:
            buffer += (await iterator.__anext__()).decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if lines.get("event") in names:
                    got.append((lines["event"], json.loads(lines.get("data", "{}"))))
        await iterator.aclose()
        return got

    return async_to_sync(collect)()


def _open(user, **headers):
    async def get():
        client = AsyncClient()
        await client.aforce_login(user)
        return await client.get("/stream/", headers=headers), client

    return async_to_sync(get)()


def test_the_stream_needs_a_login():
    async def get():
        return await AsyncClient().get("/stream/")

    assert async_to_sync(get)().status_code == 401


def test_a_change_reaches_an_open_stream(viewer):
    position = stream.current_position()
    push.publish("call", {"c-1": "started"})
    response, _ = _open(viewer)
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no" and response["Cache-Control"] == "no-cache"
    response, _ = _open(viewer, **{"Last-Event-ID": position})
    [(name, message)] = _read(response, 1)
    assert name == "change" and message["calls"] == {"c-1": "started"}


def test_a_reconnect_replays_exactly_what_was_missed(viewer):
    push.publish("call", {"c-1": "started"})
    seen = stream.current_position()
    push.publish("call", {"c-1": "active"})
    push.publish("status")
    response, _ = _open(viewer, **{"Last-Event-ID": seen})
    got = _read(response, 2)
    assert [m["kind"] for _, m in got] == ["call", "status"]
    assert got[0][1]["calls"] == {"c-1": "active"}


def test_a_gap_larger_than_the_stream_keeps_asks_for_a_full_refresh(viewer):
    push.publish("call", {"c-2": "started"})
    redis_client().xtrim(push.STREAM, maxlen=0)
    push.publish("call", {"c-2": "active"})
    response, _ = _open(viewer, **{"Last-Event-ID": "1-0"})
    assert _read(response, 1)[0][0] == "reset"


def test_many_calls_are_announced_as_many(viewer):
    position = stream.current_position()
    push.publish("call", {f"c-{i}": "completed" for i in range(push.MAX_IDS + 1)})
    response, _ = _open(viewer, **{"Last-Event-ID": position})
    [(_, message)] = _read(response, 1)
    assert message["many"] == "1" and message["calls"] == {}


def _in_a_thread_of_its_own(coroutine_function):
    """Run a coroutine on a new event loop in a new thread: after the browser tests, this
    thread may already have a loop (Playwright's), and async_to_sync refuses to nest."""
    outcome = {}

    def run():
        try:
            outcome["value"] = asyncio.run(coroutine_function())
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.django_db(transaction=True)
def test_the_stream_ends_with_the_session(viewer, monkeypatch):
    from django.contrib.sessions.models import Session

    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 1)

    async def until_logout():
        client = AsyncClient()
        await client.aforce_login(viewer)
        response = await client.get("/stream/")
        iterator, seen, deleted = response.streaming_content.__aiter__(), "", False
        while "event: logout" not in seen:
            seen += (await iterator.__anext__()).decode()
            if ": heartbeat" in seen and not deleted:  # alive while the session is
                await Session.objects.all().adelete()
                deleted = True
        await iterator.aclose()
        return seen

    seen = _in_a_thread_of_its_own(until_logout)
    assert seen.index(": heartbeat") < seen.index("event: logout")


@pytest.mark.django_db(transaction=True)
def test_every_writer_announces(catapult_settings, sim, client, settings):
    """A sync cycle (state and events) and a callback each leave a message naming the call."""
    settings.CALLBACK_PASSWORD = "hook-pass-123"
    call_id = sim.create_inbound_call(auto_answer=True)
    sync.run_cycle()
    kinds = [push.message(i, f) for i, f in redis_client().xrange(push.STREAM)]
    assert any(call_id in m["calls"] for m in kinds if m["kind"] == "call")
    assert any(m["kind"] == "status" for m in kinds)
    from tests.test_callback_endpoint import _auth, _post

    payload = {"eventType": "hangup", "callId": call_id, "cause": "NORMAL_CLEARING"}
    assert _post(client, payload, **_auth()).status_code == 200
    last = push.message(*redis_client().xrevrange(push.STREAM, count=1)[0])
    assert last["calls"] == {call_id: "completed"}


def test_a_quiet_stream_outlives_its_heartbeat(viewer):
    """The Redis read must wait longer than the heartbeat's blocking read, or every
    quiet stream ends with a timeout instead of a heartbeat."""
    assert stream.READ_TIMEOUT_SECONDS > stream.HEARTBEAT_SECONDS
    response, _ = _open(viewer)

    async def first_heartbeat():
        iterator = response.streaming_content.__aiter__()
        seen = ""
        while ": heartbeat" not in seen:
            seen += (await iterator.__anext__()).decode()
        await iterator.aclose()
        return seen

    assert ": heartbeat" in async_to_sync(first_heartbeat)()  # 15 s of quiet, then this

"""The push benchmark's browsers: many server-sent-events streams in one asyncio process.

Started by bench/push.py (it can be started by hand, to watch a running stack):

    PUSH_BENCH_COOKIE=<sessionid> .venv/bin/python bench/push_client.py --port 8000 \
        --streams 50 --result streams.json

Each stream is a raw HTTP/1.1 GET /stream/ over asyncio streams (no HTTP library: nothing
to install), with chunked transfer decoding and an SSE parser, and behaves as a browser's
EventSource: when the response ends or the connection drops it reconnects after the
stream's `retry:` delay, naming the last event id it saw in `Last-Event-ID`; an HTTP error
status stops it. It notes when each stream said `retry:` (connected), the wall-clock time
each event arrived and the call ids it names, heartbeats, and every end and reconnection.

Talks to its parent in JSON lines: on stdout it says {"ready": connected, "failed": n}
once every stream has connected or failed, {"probe": true} when asked for a probe stream,
{"status": ...} when asked; on stdin it reads "probe", "status" and "stop". On "stop" (or
when stdin closes: the parent is gone) it closes every stream, writes everything it saw
to --result and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import threading
import time


class Fatal(Exception):
    """What makes an EventSource give up (an HTTP error status): no reconnection."""


class Stream:
    __slots__ = (
        "label",
        "started_at",
        "connected_at",
        "events",
        "heartbeats",
        "ends",
        "error",
        "live",
        "last_id",
        "retry_ms",
    )

    def __init__(self, label: str) -> None:
        self.label = label
        self.started_at = time.time()
        self.connected_at: float | None = None  # the first retry: line
        self.events: list[list] = []  # [event id, arrival (epoch s), [call ids], event name]
        self.heartbeats = 0
        self.ends: list[list] = []  # [when (epoch s), why] of each end we did not cause
        self.error: str | None = None  # why it gave up (no reconnection)
        self.live = False  # connected now
        self.last_id: str | None = None
        self.retry_ms = 3000  # EventSource's usual default until the server says

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


def _handle_block(stream: Stream, block: bytes, now: float, connected: asyncio.Future) -> None:
    fields: dict[str, str] = {}
    for raw in block.decode("utf-8", "replace").splitlines():
        if raw.startswith(":"):
            stream.heartbeats += 1
            continue
        name, _, value = raw.partition(":")
        value = value.removeprefix(" ")
        fields[name] = f"{fields[name]}\n{value}" if name in fields and name == "data" else value
    if "retry" in fields:
        with contextlib.suppress(ValueError):
            stream.retry_ms = int(fields["retry"])
        stream.live = True
        if stream.connected_at is None:
            stream.connected_at = now
        if not connected.done():
            connected.set_result(True)
    if "id" in fields:
        stream.last_id = fields["id"]
    event = fields.get("event")
    if event is None:
        return
    calls: list[str] = []
    if event == "change":
        with contextlib.suppress(ValueError, AttributeError):
            calls = list(json.loads(fields.get("data", "{}")).get("calls", {}))
    stream.events.append([fields.get("id"), now, calls, event])


async def _connection(stream: Stream, port: int, cookie: str, path: str, connected) -> str:
    """One HTTP request for the stream; returns why it ended."""
    writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        last = f"Last-Event-ID: {stream.last_id}\r\n" if stream.last_id else ""
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                f"Cookie: sessionid={cookie}\r\n"
                "Accept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\n"
                f"{last}"
                "User-Agent: push-bench\r\n"
                "\r\n"
            ).encode()
        )
        await writer.drain()
        status = (await reader.readline()).split()
        if len(status) < 2:
            return "no HTTP status line"
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if status[1] != b"200":
            raise Fatal(f"HTTP {status[1].decode()}")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        buffer = b""
        while True:
            if chunked:
                size_line = await reader.readline()
                if not size_line:
                    return "connection closed mid-response"
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    return "response ended by the server"
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return "connection closed by the server"
            now = time.time()
            buffer += data.replace(b"\r\n", b"\n")
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                _handle_block(stream, block, now, connected)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    finally:
        stream.live = False
        if writer is not None:
            writer.close()


async def run_stream(
    stream: Stream, port: int, cookie: str, connected: asyncio.Future, path: str
) -> None:
    try:
        while True:
            why = await _connection(stream, port, cookie, path, connected)
            stream.ends.append([time.time(), why])
            if not connected.done():  # never connected at all: not a browser's page
                stream.error = why
                return
            await asyncio.sleep(stream.retry_ms / 1000)
    except Fatal as exc:
        stream.error = str(exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, the parent reports it
        stream.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if not connected.done():
            connected.set_result(False)


def _say(**message) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _raise_fd_limit(streams: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = streams + 200
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


async def main(args) -> None:
    _raise_fd_limit(args.streams + 10)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "stop")  # parent gone

    threading.Thread(target=read_stdin, daemon=True).start()

    streams: list[Stream] = []
    tasks: list[asyncio.Task] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def open_one(label: str) -> bool:
        async with gate:  # at most this many connecting at once, like a reload storm
            stream = Stream(label)
            connected = loop.create_future()
            streams.append(stream)
            tasks.append(
                asyncio.create_task(
                    run_stream(stream, args.port, args.cookie, connected, args.path)
                )
            )
            try:
                return await asyncio.wait_for(asyncio.shield(connected), args.connect_timeout)
            except TimeoutError:
                stream.error = stream.error or f"no retry: line in {args.connect_timeout:.0f} s"
                return False

    began = time.perf_counter()
    results = await asyncio.gather(*(open_one(f"s{i}") for i in range(args.streams)))
    errors = sorted({s.error for s in streams if s.error})
    _say(
        ready=sum(results),
        failed=len(results) - sum(results),
        seconds=round(time.perf_counter() - began, 3),
        errors=errors[:5],
    )
    while True:
        command = await commands.get()
        if command == "probe":
            ok = await open_one(f"probe{sum(s.label.startswith('probe') for s in streams)}")
            _say(probe=ok)
        elif command == "status":  # of the streams opened at the start (not the probes)
            first = [s for s in streams if not s.label.startswith("probe") and s.connected_at]
            _say(
                status=True,
                live=sum(s.live for s in first),
                ended=sum(bool(s.ends) for s in first),
                ends=sum(len(s.ends) for s in first),
                gave_up=sum(bool(s.error) for s in first),
                heartbeats_min=min((s.heartbeats for s in first), default=0),
                why=sorted(
                    {why for s in first for _, why in s.ends}
                    | {s.error or "" for s in first} - {""}
                )[:5],
            )
        elif command == "stop":
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with open(args.result, "w") as out:
        json.dump({"streams": [s.as_dict() for s in streams]}, out)
    _say(done=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--cookie",
        default=os.environ.get("PUSH_BENCH_COOKIE", ""),
        help="the sessionid cookie's value (default: $PUSH_BENCH_COOKIE, kept off argv)",
    )
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--result", required=True, help="where to write what was seen (JSON)")
    parser.add_argument("--path", default="/stream/")
    parser.add_argument("--concurrency", type=int, default=100, help="connecting at once")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    asyncio.run(main(parser.parse_args()))

"""Handlers of the Catapult v1 calls API, under /v1/users/{userId}.

Each handler runs with `Simulator.lock` held and returns a Response; errors are raised as
ApiError and rendered by the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import audio, errors, render, validation
from .errors import ApiError
from .wire import Request, Response, empty, json_response, link_header

if TYPE_CHECKING:
    from .simulator import Simulator

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.validation(f"The '{name}' parameter must be a number", [(name, raw)]) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise errors.validation(f"The '{name}' parameter must be {bound}", [(name, raw)])
    return value


def _number_param(request: Request, name: str) -> str | None:
    value = request.query.get(name)
    if value and value.startswith(" "):
        # An unencoded `+` reaches us as a space (form decoding); the docs ask for %2B
        # but clients forget, and a number never starts with a space.
        value = "+" + value[1:]
    return value or None


def _sort_desc(request: Request) -> bool:
    order = request.query.get("sortOrder", "desc").lower()
    if order not in ("asc", "desc"):
        raise errors.validation(
            "The 'sortOrder' parameter must be one of the following values: 'asc', 'desc'",
            [("sortOrder", order)],
        )
    return order == "desc"


# -- calls -------------------------------------------------------------------------------


def list_calls(sim: Simulator, request: Request) -> Response:
    size = _int_param(request, "size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int_param(request, "page", 0, 0, None)
    desc = _sort_desc(request)
    from_, to = _number_param(request, "from"), _number_param(request, "to")
    bridge_id, conference_id = request.query.get("bridgeId"), request.query.get("conferenceId")
    headers = {}
    if bridge_id or conference_id:
        # The docs: "pagination do not apply" to these two filters.
        calls = [
            c
            for c in sim.store.group(bridge_id or None, conference_id or None, desc)
            if (from_ is None or c.from_ == from_) and (to is None or c.to == to)
        ]
    else:
        calls, has_next = sim.store.page(from_, to, page, size, desc)
        if has_next:
            headers["Link"] = link_header(request, "/calls", page, size)
    body = render.call_list_body(calls, request.api_base)
    return Response(200, body, "application/json", headers)


def create_call(sim: Simulator, request: Request) -> Response:
    fields = validation.create_call(request.json(), sim.account_numbers, sim.user_id)
    call = sim.engine.create_outbound(fields, sim.clock.now_ms())
    return empty(201, {"Location": f"{request.api_base}/calls/{call.id}"})


def get_call(sim: Simulator, request: Request, call_id: str) -> Response:
    return json_response(render.call_json(sim.engine.call(call_id), request.api_base))


def update_call(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    fields = validation.update_call(request.json())
    leg = sim.engine.update(call, sim.clock.now_ms(), fields)
    if leg is not None:
        # A transfer answers like a create: 201 and the new (B) leg in Location.
        return empty(201, {"Location": f"{request.api_base}/calls/{leg.id}"})
    return empty()


def list_events(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    return json_response([render.event_json(e) for e in sim.call_events(call)])


def get_event(sim: Simulator, request: Request, call_id: str, event_id: str) -> Response:
    call = sim.engine.call(call_id)
    for event in sim.call_events(call):
        if event[0] == event_id:
            # As in the docs' example, a single event carries `time` as epoch milliseconds.
            return json_response(render.event_json(event, epoch_time=True))
    raise errors.not_found("resource-not-found", "call event", "callEventId", event_id)


def list_call_recordings(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    base = request.api_base
    return json_response([render.recording_json(r, base) for r in call.recordings or ()])


def list_transcriptions(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    base = request.api_base
    return json_response([render.transcription_json(t, base) for t in call.transcriptions or ()])


def play_audio(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    sim.engine.play_audio(call, sim.clock.now_ms(), validation.audio(request.json()))
    return empty()


def send_dtmf(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    sim.engine.send_dtmf(call, sim.clock.now_ms(), validation.dtmf(request.json()))
    return empty()


def create_gather(sim: Simulator, request: Request, call_id: str) -> Response:
    call = sim.engine.call(call_id)
    gather = sim.engine.start_gather(call, sim.clock.now_ms(), validation.gather(request.json()))
    return empty(201, {"Location": f"{request.api_base}/calls/{call.id}/gather/{gather.id}"})


def _gather(sim: Simulator, call_id: str, gather_id: str):
    call = sim.engine.call(call_id)
    gather = (call.gathers or {}).get(gather_id)
    if gather is None:
        raise errors.not_found("resource-not-found", "gather", "gatherId", gather_id)
    return call, gather


def get_gather(sim: Simulator, request: Request, call_id: str, gather_id: str) -> Response:
    _, gather = _gather(sim, call_id, gather_id)
    return json_response(render.gather_json(gather, request.api_base))


def update_gather(sim: Simulator, request: Request, call_id: str, gather_id: str) -> Response:
    call, gather = _gather(sim, call_id, gather_id)
    body = validation.Body(request.json(), "gather")
    if body.choice("state", ("completed",)) is None:
        raise errors.missing_property("gather", "state")
    sim.engine.stop_gather(call, gather, sim.clock.now_ms())
    return empty()


# -- recordings ---------------------------------------------------------------------------


def list_recordings(sim: Simulator, request: Request) -> Response:
    size = _int_param(request, "size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int_param(request, "page", 0, 0, None)
    ordered = sorted(sim.store.recordings.values(), key=lambda r: (r.start_ms, r.id), reverse=True)
    chunk = ordered[page * size : (page + 1) * size]
    headers = {}
    if (page + 1) * size < len(ordered):
        headers["Link"] = link_header(request, "/recordings", page, size)
    base = request.api_base
    return json_response([render.recording_json(r, base) for r in chunk], headers=headers)


def get_recording(sim: Simulator, request: Request, recording_id: str) -> Response:
    rec = sim.store.recordings.get(recording_id)
    if rec is None:
        raise errors.not_found("recording-not-found", "recording", "recordingId", recording_id)
    return json_response(render.recording_json(rec, request.api_base))


# -- media ------------------------------------------------------------------------------

MEDIA_NAME = re.compile(r"^(?P<call_id>c-[a-z2-7]+)-(?P<number>\d{1,6})\.(?P<ext>wav|mp3)$")


def get_media(sim: Simulator, request: Request, name: str) -> Response:
    """A recording's file, `{callId}-{n}.{wav|mp3}`, whole (200) or one byte range (206)."""
    rec = _media_recording(sim, name)
    if rec is None:
        raise errors.not_found("media-not-found", "media", "mediaName", name)
    if rec.state != "complete":
        # Docs: "saving: Recording is complete but it is not available to download yet."
        raise ApiError(
            404,
            "not-found",
            "media-not-found",
            f"The media {name} is not available yet (recording {rec.state})",
            [("mediaName", name)],
        )
    file = audio.for_recording(rec.id, rec.file_format, rec.end_ms - rec.start_ms)
    wanted = audio.parse_range(request.headers.get("range"), file.size)
    headers = {"Accept-Ranges": "bytes"}
    if wanted == "unsatisfiable":
        raise ApiError(
            416,
            "bad-request",
            "range-not-satisfiable",
            f"The range {request.headers.get('range')} is outside the media ({file.size} bytes)",
            [("mediaName", name)],
            headers={"Content-Range": f"bytes */{file.size}", **headers},
        )
    status, (start, end) = (200, (0, file.size - 1)) if wanted is None else (206, wanted)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    return Response(
        status,
        content_type=file.content_type,
        headers=headers,
        stream=file.chunks(start, end),
        length=end - start + 1,
    )


def _media_recording(sim: Simulator, name: str):
    match = MEDIA_NAME.match(name)
    if match is None:
        return None
    call = sim.store.get(match["call_id"])
    number = int(match["number"])
    if call is None or not call.recordings or not 1 <= number <= len(call.recordings):
        return None
    rec = call.recordings[number - 1]
    return rec if rec.file_format == match["ext"] else None


# -- routing ------------------------------------------------------------------------------

Handler = Callable[..., Response]
CALL = r"/calls/(?P<call_id>[^/]+)"

# (pattern on the path after /v1/users/{userId}, route name for stats, handlers by method)
ROUTES: list[tuple[re.Pattern, str, dict[str, Handler]]] = [
    (re.compile(p), name, handlers)
    for p, name, handlers in (
        (r"^/calls$", "/calls", {"GET": list_calls, "POST": create_call}),
        (rf"^{CALL}$", "/calls/{id}", {"GET": get_call, "POST": update_call}),
        (rf"^{CALL}/events$", "/calls/{id}/events", {"GET": list_events}),
        (
            rf"^{CALL}/events/(?P<event_id>[^/]+)$",
            "/calls/{id}/events/{id}",
            {"GET": get_event},
        ),
        (rf"^{CALL}/recordings$", "/calls/{id}/recordings", {"GET": list_call_recordings}),
        (rf"^{CALL}/transcriptions$", "/calls/{id}/transcriptions", {"GET": list_transcriptions}),
        (rf"^{CALL}/audio$", "/calls/{id}/audio", {"POST": play_audio}),
        (rf"^{CALL}/dtmf$", "/calls/{id}/dtmf", {"POST": send_dtmf}),
        (rf"^{CALL}/gather$", "/calls/{id}/gather", {"POST": create_gather}),
        (
            rf"^{CALL}/gather/(?P<gather_id>[^/]+)$",
            "/calls/{id}/gather/{id}",
            {"GET": get_gather, "POST": update_gather},
        ),
        (r"^/recordings$", "/recordings", {"GET": list_recordings}),
        (r"^/recordings/(?P<recording_id>[^/]+)$", "/recordings/{id}", {"GET": get_recording}),
        (r"^/media/(?P<name>[^/]+)$", "/media/{name}", {"GET": get_media}),
    )
]


def resolve(routes, path: str) -> tuple[str, dict[str, Handler], dict[str, str]] | None:
    for pattern, name, handlers in routes:
        match = pattern.match(path)
        if match:
            return name, handlers, match.groupdict()
    return None


def method_not_allowed(method: str, request: Request, allowed: list[str]) -> ApiError:
    return ApiError(
        405,
        "bad-request",
        "method-not-allowed",
        f"The method {method} is not allowed on {request.request_path}",
        headers={"Allow": ", ".join(sorted(allowed))},
    )


def unknown_resource(request: Request) -> ApiError:
    return ApiError(
        404,
        "not-found",
        "resource-not-found",
        f"The resource {request.request_path} could not be found",
    )

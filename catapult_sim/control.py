"""The simulator's own control API under /_sim/, for tests and tools in other processes.

Same Basic credentials as the Catapult API; never rate limited, never faulted, and not
counted in the request statistics.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from . import errors
from .validation import Body
from .wire import Request, Response, empty, json_response

if TYPE_CHECKING:
    from .simulator import Simulator
    from .store import Call, Event

FAULT_KEYS = ("kind", "method", "path", "count", "probability", "status", "delay", "shape", "after")


def add_faults(sim: Simulator, request: Request) -> Response:
    specs = request.json_any()
    if isinstance(specs, dict):
        specs = [specs]
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise errors.validation("Expected a JSON list of fault specifications")
    for spec in specs:
        unknown = set(spec) - set(FAULT_KEYS)
        if unknown or "kind" not in spec:
            raise errors.validation(
                f"A fault needs 'kind' and may have {', '.join(FAULT_KEYS[1:])}; "
                f"unknown: {', '.join(sorted(unknown)) or 'none'}"
            )
    try:
        for spec in specs:
            options = {k: v for k, v in spec.items() if k != "kind"}
            if "count" not in options:
                options["count"] = 1
            sim.faults.add(spec["kind"], **options)
    except (TypeError, ValueError, re.error) as exc:
        raise errors.validation(f"Bad fault specification: {exc}") from exc
    return json_response({"faults": sim.faults.active()})


def list_faults(sim: Simulator, request: Request) -> Response:
    return json_response({"faults": sim.faults.active()})


def clear_faults(sim: Simulator, request: Request) -> Response:
    sim.faults.clear()
    return json_response({"faults": []})


def set_rate_limit(sim: Simulator, request: Request) -> Response:
    body = request.json()
    options = {}
    if "callsPerSecond" in body:
        options["calls_per_second"] = body["callsPerSecond"]
    try:
        sim.faults.rate_limit(body.get("requestsPerSecond"), **options)
    except (TypeError, ValueError) as exc:
        raise errors.validation(f"Bad rate limit: {exc}") from exc
    return json_response(
        {
            "requestsPerSecond": sim.faults.requests_per_second,
            "callsPerSecond": sim.faults.calls_per_second,
        }
    )


def get_stats(sim: Simulator, request: Request) -> Response:
    return json_response(sim.stats())


def reset_stats(sim: Simulator, request: Request) -> Response:
    sim.reset_stats()
    return json_response(sim.stats())


def inbound_call(sim: Simulator, request: Request) -> Response:
    body = Body(request.json(), "inboundCall")
    auto_answer = body.boolean("autoAnswer")
    try:
        call_id = sim.create_inbound_call(
            from_=body.string("from"),
            to=body.string("to"),
            auto_answer=True if auto_answer is None else auto_answer,
        )
    except ValueError as exc:
        raise errors.validation(str(exc)) from exc
    return empty(201, {"Location": f"{request.origin}/v1/users/{sim.user_id}/calls/{call_id}"})


def call_states(call: Call, events: list[Event]) -> list[dict]:
    """When the call entered each state, from its events: `create` (started), `answer`
    (active), `transfer` (transferring while started, active once connected or failed) and
    `hangup` (the final state). The event list is in the order events were added, which is
    not time order (a playback's start and done are added when it ends): sort by time first,
    the sort being stable keeps same-instant events in the order they happened."""
    states: list[dict] = []
    for _, at, name, data in sorted(events, key=lambda event: event[1]):
        if name == "create":
            state = "started"
        elif name == "answer":
            state = "active"
        elif name == "transfer":
            status = json.loads(data or "{}").get("status")
            state = "transferring" if status == "started" else "active"
        elif name == "hangup":
            state = call.state
        else:
            continue
        if not states or states[-1]["state"] != state:
            states.append({"state": state, "at": at})
    return states


def call_summary(sim: Simulator, call: Call) -> dict:
    events = sim.call_events(call)
    summary = {"id": call.id, "state": call.state, "startTime": call.start_ms}
    if call.end_ms is not None:
        summary["endTime"] = call.end_ms
    summary["events"] = len(events)
    summary["states"] = call_states(call, events)
    return summary


def _changed_since(call: Call, since: int) -> bool:
    """Whether a live-traffic call is still going, or something happened to it at or after
    `since` (a state change or an event; an event back-dated before `since` does not count)."""
    if not call.is_final or call.start_ms >= since or call.end_ms >= since:
        return True
    return any(at >= since for _, at, _, _ in call.events)


def list_calls(sim: Simulator, request: Request) -> Response:
    """Every call (no `since`), or those created or changed since `since` (epoch ms), oldest
    first. Historical (preloaded) calls never change, so `since` skips them without computing
    their events."""
    raw = request.query.get("since")
    if raw is None:
        calls = list(sim.store.calls.values())
    else:
        try:
            since = int(raw)
        except ValueError:
            raise errors.validation(f"since must be an epoch time in ms, not {raw!r}") from None
        calls = [
            call
            for call in sim.store.calls.values()
            if call.events is not None and _changed_since(call, since)
        ]
    calls.sort(key=lambda call: call.key)
    return json_response([call_summary(sim, call) for call in calls])


def remote_hangup(sim: Simulator, request: Request, call_id: str) -> Response:
    cause = Body(request.json(), "hangup").string("cause") or "NORMAL_CLEARING"
    sim.hangup(call_id, cause=cause)
    return empty()


def set_traffic(sim: Simulator, request: Request) -> Response:
    rate = Body(request.json(), "traffic").integer("callsPerMinute", low=0, high=6000)
    if rate:
        sim.start_traffic(calls_per_minute=rate)
    else:
        sim.stop_traffic()
    return json_response({"callsPerMinute": sim.traffic.calls_per_minute})


def advance(sim: Simulator, request: Request) -> Response:
    seconds = Body(request.json(), "advance").integer("seconds", low=0, high=86_400 * 30)
    if not sim.clock.manual:
        raise errors.validation("The simulator runs on the real clock; nothing to advance")
    sim.advance(seconds or 0)
    return json_response({"now": sim.clock.now_ms()})


ROUTES = [
    (re.compile(p), name, handlers)
    for p, name, handlers in (
        (
            r"^/_sim/faults$",
            "/_sim/faults",
            {"GET": list_faults, "POST": add_faults, "DELETE": clear_faults},
        ),
        (r"^/_sim/rate-limit$", "/_sim/rate-limit", {"POST": set_rate_limit}),
        (r"^/_sim/stats$", "/_sim/stats", {"GET": get_stats}),
        (r"^/_sim/stats/reset$", "/_sim/stats/reset", {"POST": reset_stats}),
        (r"^/_sim/inbound-calls$", "/_sim/inbound-calls", {"POST": inbound_call}),
        (r"^/_sim/calls$", "/_sim/calls", {"GET": list_calls}),
        (
            r"^/_sim/calls/(?P<call_id>[^/]+)/hangup$",
            "/_sim/calls/{id}/hangup",
            {"POST": remote_hangup},
        ),
        (r"^/_sim/traffic$", "/_sim/traffic", {"POST": set_traffic}),
        (r"^/_sim/advance$", "/_sim/advance", {"POST": advance}),
    )
]

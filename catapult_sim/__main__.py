"""Command line: serve the simulated API with live traffic (the dashboard's demo mode).

    python -m catapult_sim --port 8900 --preload 300 --calls-per-minute 12

Every option can also come from an environment variable CATAPULT_SIM_<OPTION>, e.g.
CATAPULT_SIM_PORT=8900; a command-line option wins over the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from urllib.parse import urlsplit

from .callbacks import redact
from .simulator import Simulator

log = logging.getLogger("catapult_sim")

# (option, type, default, help); the environment variable is CATAPULT_SIM_<OPTION>.
OPTIONS = (
    ("host", str, "127.0.0.1", "interface to listen on"),
    ("port", int, 8900, "port to listen on (0 picks a free one)"),
    ("user-id", str, "u-demo", "the account's userId, as in /v1/users/{userId}/..."),
    ("api-token", str, "demo-token", "API token (Basic auth user name)"),
    ("api-secret", str, "demo-secret", "API secret (Basic auth password)"),
    ("seed", int, 42, "seed for every generated value"),
    ("calls-per-minute", float, 12.0, "live traffic rate; 0 turns traffic off"),
    ("preload", int, 300, "finished calls created at start, spread over the last 7 days"),
    ("live", int, 5, "calls already in progress at start"),
    ("incoming-call-url", str, None, "application incomingCallUrl: receives callbacks"),
    ("account-numbers", str, None, "comma-separated E.164 numbers owned by the account"),
    ("rate-limit", float, None, "requests per second per resource family (429 above)"),
    ("log-level", str, "INFO", "DEBUG logs every request"),
)


def env_name(option: str) -> str:
    return "CATAPULT_SIM_" + option.upper().replace("-", "_")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m catapult_sim",
        description="Serve a simulated Bandwidth Catapult v1 Voice API with live traffic.",
        epilog="Every option may also be set with CATAPULT_SIM_<OPTION> "
        "(for example CATAPULT_SIM_PORT=8900).",
    )
    for option, kind, default, help_text in OPTIONS:
        raw = os.environ.get(env_name(option))
        value = default
        if raw not in (None, ""):
            try:
                value = kind(raw)
            except ValueError:
                parser.error(f"{env_name(option)}={raw!r} is not a valid {kind.__name__}")
        parser.add_argument(f"--{option}", type=kind, default=value, help=help_text)
    args = parser.parse_args(argv)
    if args.incoming_call_url and urlsplit(args.incoming_call_url).scheme not in ("http", "https"):
        parser.error("--incoming-call-url must be an http(s) URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    numbers = [n.strip() for n in args.account_numbers.split(",")] if args.account_numbers else None
    sim = Simulator(
        user_id=args.user_id,
        api_token=args.api_token,
        api_secret=args.api_secret,
        seed=args.seed,
        account_numbers=numbers,
    )
    sim.incoming_call_url = args.incoming_call_url
    if args.rate_limit:
        sim.faults.rate_limit(args.rate_limit)
    try:
        sim.start(host=args.host, port=args.port)  # first: live calls' callbacks need the URL
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.preload or args.live:
        sim.preload(args.preload, live=args.live)
    if args.calls_per_minute > 0:
        sim.start_traffic(calls_per_minute=args.calls_per_minute)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    callbacks = redact(args.incoming_call_url) if args.incoming_call_url else "none"
    print(
        f"Catapult simulator listening on {sim.base_url} "
        f"(API {sim.api_base}, numbers {', '.join(sim.account_numbers)}, "
        f"callbacks to {callbacks})",
        flush=True,
    )
    stop.wait()
    log.info("stopping")
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m astroquery_ext.sandbox``: run the sandbox in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from astroquery_ext._base.extras import MissingExtraError, require_extra
from astroquery_ext.sandbox import AVAILABLE_SERVICES, Sandbox, _modes


def describe_mode(sandbox: Sandbox, name: str) -> str:
    """``production mode`` or ``relaxed mode: throttle_rate=100000, ...`` (what differs)."""
    mode = sandbox.mode(name)
    options = sandbox.options(name)
    relaxed = [f"{d.option}={options.get(d.option)!r}" for d in _modes.DIFFERENCES
               if d.service == name and options.get(d.option) != d.production]
    if mode == "production" and not relaxed:
        return "production mode"
    if mode == "production":
        return "production mode, except " + ", ".join(relaxed)
    return "relaxed mode: " + (", ".join(relaxed) or "no difference")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m astroquery_ext.sandbox",
        description="Run local servers of the astroquery-ext services until interrupted.")
    parser.add_argument("--services", nargs="+", default=["atlas", "grad300", "glance", "tupli"],
                        choices=AVAILABLE_SERVICES, metavar="SERVICE",
                        help=f"services to run (default: the four; choices: {', '.join(AVAILABLE_SERVICES)})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample data (default 0)")
    parser.add_argument("--data-dir", help="keep what the services store here (default: a temporary dir)")
    parser.add_argument("--port", action="append", default=[], metavar="SERVICE=PORT",
                        help="fixed port for a service, e.g. --port atlas=8001 (repeatable)")
    parser.add_argument("--options", default="{}",
                        help='JSON options by service, e.g. \'{"atlas": {"n_objects": 500}}\'')
    parser.add_argument("--mode", action="append", default=[], metavar="[SERVICE=]MODE",
                        help="production (the default: as the real services, throttles and known bugs "
                             "included) or relaxed, for all services or one (repeatable), "
                             "e.g. --mode relaxed or --mode atlas=relaxed")
    parser.add_argument("--faults", default=None,
                        help="JSON list of fault rules for every service, or a dict by service")
    args = parser.parse_args(argv)

    try:
        ports = {k: int(v) for k, v in (p.split("=", 1) for p in args.port)}
        options = json.loads(args.options)
        faults = json.loads(args.faults) if args.faults else None
    except ValueError as exc:
        parser.error(f"bad --port, --options or --faults: {exc}")
    services = {name: options.get(name, {}) for name in args.services}
    modes = {name: "production" for name in args.services}
    for item in args.mode:
        service, _, mode = item.rpartition("=")
        if mode not in _modes.MODES or (service and service not in modes):
            parser.error(f"bad --mode {item!r}: give production or relaxed, optionally as SERVICE=MODE "
                         f"for one of {', '.join(args.services)}")
        for name in ([service] if service else modes):
            modes[name] = mode

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        require_extra("sandbox", "The sandbox")
    except MissingExtraError as exc:
        print(f"python -m astroquery_ext.sandbox: {exc}", file=sys.stderr)
        return 1
    with Sandbox(services=services, seed=args.seed, data_dir=args.data_dir, faults=faults,
                 ports=ports, mode=modes) as sandbox:
        print("astroquery-ext sandbox running (Ctrl-C to stop):")
        for name in sandbox.services:
            creds = sandbox.credentials(name)
            shown = ", ".join(f"{k}={v}" for k, v in creds.items())
            print(f"  {name:8s} {sandbox.url(name)}  ({describe_mode(sandbox, name)})")
            print(f"  {'':8s} {shown}")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

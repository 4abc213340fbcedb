"""One sandbox service in its own process (started by :class:`~astroquery_ext.sandbox.Sandbox`).

Usage (the harness runs this; it is not meant to be typed)::

    python -m astroquery_ext.sandbox._server --service atlas --fd 5 \
        --origin http://127.0.0.1:PORT --data-dir DIR --seed 0 \
        --options '{...}' --faults '[...]' [--tls-cert PEM --tls-key PEM]

The listening socket is bound by the parent and inherited as ``--fd``, so the
port is known before this process starts and no other process can take it.
Besides the service's own routes, the server answers under ``/_sandbox/``:

``GET /_sandbox/info``            name, API root, credentials, users, extra info
``GET /_sandbox/requests``        the requests answered so far (method, path, status)
``DELETE /_sandbox/requests``     forget them
``GET|PUT /_sandbox/faults``      the fault rules in force / replace them
``GET /_sandbox/usage``           CPU seconds this server process has used so far
``POST /_sandbox/reset``          what the service stores back as it was at start (see `SandboxService.reset`)
``POST /_sandbox/load``           add the caller's own data (see `SandboxService.load`)
``POST /_sandbox/<control>``      one of the service's test controls (e.g. Glance's ``expire-access-tokens``)

The server dies with the process that started it, however that one ends:
it watches the read end of a pipe whose write end only the parent holds
(``--watchdog-fd``: EOF means the parent is gone, on every platform), and on
Linux it also asks for a parent-death signal (``--parent-death-signal``).
An orphaned server removes the temporary data directory it was given with
``--remove-if-orphaned``.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import importlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from astroquery_ext.sandbox._service import SandboxContext, SandboxService
from astroquery_ext.sandbox.faults import FaultMiddleware, FaultPlan

CONTROL_PREFIX = "/_sandbox/"
MAX_LOG = 200_000


class RequestLog:
    """The last ``MAX_LOG`` requests a server answered."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=MAX_LOG)

    def add(self, entry: dict) -> None:
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class LogMiddleware:
    """Records method, path and status of every request outside ``/_sandbox/``.

    Only the path is kept (never the query string or headers), so a token
    sent as ``?token=`` does not end up in the log.
    """

    def __init__(self, app, log: RequestLog):
        self.app = app
        self.log = log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            return await self.app(scope, receive, send)
        logged = {"done": False}
        started = time.time()

        def record(code):
            logged["done"] = True
            self.log.add({"method": scope["method"], "path": scope["path"], "status": code, "time": started})

        async def recording_send(message):
            if message["type"] == "http.response.start" and not logged["done"]:
                # Logged before the client can see a byte of the answer, so a
                # client that has its answer always finds it in the log.
                record(message["status"])
            await send(message)

        try:
            # _BoundSend keeps uvicorn's transport reachable for fault resets.
            await self.app(scope, receive, _BoundSend(recording_send, send))
        finally:
            if not logged["done"]:  # reset before any answer
                record(None)


class _BoundSend:
    """A send callable that still exposes the server's cycle as ``__self__``."""

    def __init__(self, func, original):
        self._func = func
        self.__self__ = getattr(original, "__self__", None)

    async def __call__(self, message):
        await self._func(message)


class ControlApp:
    """The ``/_sandbox/`` routes, wrapped around the service app."""

    def __init__(self, service_app, name: str, service: SandboxService, log: RequestLog,
                 plan: FaultPlan):
        self.service_app = service_app
        self.name = name
        self.service = service
        self.log = log
        self.plan = plan

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(CONTROL_PREFIX):
            return await self.service_app(scope, receive, send)
        route = scope["path"][len(CONTROL_PREFIX):].strip("/")
        method = scope["method"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if route == "health":
            return await _json(send, 200, {"ok": True})
        if route == "info" and method == "GET":
            return await _json(send, 200, {
                "name": self.name, "root": self.service.root,
                "credentials": self.service.credentials, "users": self.service.users,
                "info": self.service.info})
        if route == "requests":
            if method == "DELETE":
                self.log.clear()
                return await _json(send, 200, {"ok": True})
            return await _json(send, 200, self.log.snapshot())
        if route == "usage" and method == "GET":
            return await _json(send, 200, {"cpu_seconds": time.process_time()})
        if route in ("reset", "load") and method == "POST":
            action = getattr(self.service, route)
            if action is None:
                if route == "reset":  # nothing stored: nothing to put back
                    return await _json(send, 200, {"ok": True})
                return await _json(send, 501, {"detail": f"the {self.name} sandbox loads no data of yours"})
            try:
                answer = action(json.loads(body or b"{}")) if route == "load" else action()
            except (ValueError, TypeError, KeyError, OSError) as exc:
                return await _json(send, 400, {"detail": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:  # noqa: BLE001 - the caller gets the reason, not a bare 500
                return await _json(send, 500, {"detail": f"{type(exc).__name__}: {exc}"})
            return await _json(send, 200, answer if answer is not None else {"ok": True})
        if route == "faults":
            if method == "PUT":
                try:
                    self.plan.replace(json.loads(body or b"[]"))
                except (ValueError, TypeError) as exc:
                    return await _json(send, 400, {"detail": str(exc)})
            return await _json(send, 200, self.plan.to_list())
        if route in self.service.controls and method == "POST":
            return await _json(send, 200, {"result": self.service.controls[route]()})
        return await _json(send, 404, {"detail": f"no sandbox control route {scope['path']}"})


async def _json(send, status: int, payload) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def build_app(name: str, ctx: SandboxContext, faults: list) -> ControlApp:
    """The service app with faults, the request log and the control routes around it."""
    module = importlib.import_module(f"astroquery_ext.sandbox.{name}")
    service: SandboxService = module.create_service(ctx)
    log = RequestLog()
    plan = FaultPlan(faults, seed=ctx.seed)
    wrapped = LogMiddleware(FaultMiddleware(service.app, plan), log)
    return ControlApp(wrapped, name, service, log, plan)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="astroquery_ext.sandbox._server")
    parser.add_argument("--service", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", default="{}")
    parser.add_argument("--faults", default="[]")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", default=None)
    parser.add_argument("--watchdog-fd", type=int, default=None,
                        help="read end of a pipe only the parent writes to: EOF means the parent is gone")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--parent-death-signal", action="store_true",
                        help="on Linux, get SIGTERM when the parent thread ends (prctl PR_SET_PDEATHSIG)")
    parser.add_argument("--remove-if-orphaned", default=None, metavar="DIR",
                        help="a temporary data directory to remove when the parent died")
    args = parser.parse_args(argv)
    if args.parent_death_signal:
        _ask_parent_death_signal()
    orphaned, stopping = threading.Event(), threading.Event()
    # A SIGTERM (the harness's stop or the parent-death signal) before uvicorn runs stops it at once;
    # while it runs, uvicorn handles it and raises it again once stopped: caught here, so that the
    # cleanup below still runs.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    import uvicorn

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    ctx = SandboxContext(name=args.service, data_dir=data_dir, seed=args.seed,
                         origin=args.origin, options=json.loads(args.options))
    app = build_app(args.service, ctx, json.loads(args.faults))
    # An idle TLS keep-alive connection is closed with a close_notify the
    # client never answers: bound the wait at shutdown, or the harness waits
    # for each server in turn until it kills it.
    tls = ({"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key, "timeout_graceful_shutdown": 1}
           if args.tls_cert else {})
    config = uvicorn.Config(app, fd=args.fd, log_level=args.log_level, access_log=False,
                            timeout_keep_alive=30, lifespan="auto", **tls)
    server = uvicorn.Server(config)
    if args.watchdog_fd is not None:
        threading.Thread(target=_watch_parent, args=(args.watchdog_fd, server, orphaned), daemon=True,
                         name="parent-watchdog").start()
    if args.parent_pid is not None and os.getppid() != args.parent_pid:
        orphaned.set()  # the parent died before this process could watch it
    elif not stopping.is_set():
        server.run()
    if args.remove_if_orphaned and (orphaned.is_set() or os.getppid() != args.parent_pid):
        shutil.rmtree(args.remove_if_orphaned, ignore_errors=True)


def _ask_parent_death_signal() -> None:
    """SIGTERM to this process when its parent ends (Linux only; elsewhere the watchdog pipe does it)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch_parent(fd: int, server, orphaned: threading.Event) -> None:
    """Block until the parent's end of the pipe closes, then stop the server (forcefully if need be)."""
    while True:
        try:
            if not os.read(fd, 1024):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    orphaned.set()
    server.should_exit = True
    time.sleep(10)  # a graceful stop takes well under this; otherwise do not linger
    os._exit(1)


if __name__ == "__main__":
    main()

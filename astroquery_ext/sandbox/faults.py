"""Fault injection shared by every sandbox server.

A fault plan is a list of rules. Each rule says *what* goes wrong and
*which* requests it hits::

    Fault("status", status=503)                        # every request
    Fault("status", status=429, retry_after=2, rate=0.1)
    Fault("reset", nth=[3])                            # the 3rd matching request
    Fault("truncate", path="/api/v1/scans/*/download", rate=0.2, times=5)
    Fault("delay", seconds=2.0, method="GET")
    Fault("drop_response", method="POST", nth=[1])     # processed, answer lost

Kinds:

``status``
    Answer ``status`` (default 503) with a small JSON body instead of calling
    the app; ``retry_after`` adds a ``Retry-After`` header.
``reset``
    Close the connection with a TCP reset before any byte of the answer.
``truncate``
    Call the app, send its status and headers (``Content-Length`` intact),
    then only ``fraction`` (default 0.5) of the body, then close the connection.
``delay``
    Sleep ``seconds`` before calling the app (to trip client timeouts).
``drop_response``
    Call the app (so a write *is* carried out), then reset instead of
    answering: the case of a write whose response was lost.

Selection: ``method`` (one or a list), ``path`` (an ``fnmatch`` glob on the
URL path), then either ``nth`` (1-based positions among the matching
requests), or ``rate`` (a probability, drawn from a generator seeded by the
sandbox seed, so a run is reproducible), or neither (every matching request).
Each rule counts the requests it matches on its own. ``times`` caps how often
the rule fires. The ``/_sandbox/`` control routes are
never faulted. Rules are plain data: they travel as JSON to the server
process and can be replaced at run time (``Sandbox.set_faults``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import random
import socket
import struct
import threading
from typing import Any, Iterable

__all__ = ["Fault", "FaultPlan", "FaultMiddleware", "KINDS"]

KINDS = ("status", "reset", "truncate", "delay", "drop_response")


@dataclasses.dataclass
class Fault:
    """One fault-injection rule (see the module docstring)."""

    kind: str
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    fraction: float = 0.5
    method: str | list[str] | None = None
    path: str | None = None
    nth: list[int] | None = None
    rate: float | None = None
    times: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1; got {self.rate!r}")
        if self.nth is not None and self.rate is not None:
            raise ValueError("a fault takes either nth= or rate=, not both")
        if isinstance(self.nth, int):
            self.nth = [self.nth]
        if not 0.0 <= self.fraction < 1.0:
            raise ValueError(f"fault fraction must be in [0, 1); got {self.fraction!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_any(cls, value: "Fault | dict") -> "Fault":
        if isinstance(value, Fault):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise TypeError(f"a fault is a Fault or a dict; got {type(value).__name__}")


class FaultPlan:
    """The rules in force in one server, with their counters. Thread-safe."""

    def __init__(self, rules: Iterable[Fault | dict] = (), seed: int = 0):
        self._lock = threading.Lock()
        self._seed = seed
        self.replace(rules)

    def replace(self, rules: Iterable[Fault | dict]) -> None:
        rules = [Fault.from_any(r) for r in rules or ()]
        with self._lock:
            self._rules = rules
            self._seen = [0] * len(rules)
            self._fired = [0] * len(rules)
            self._rng = random.Random(self._seed)

    def to_list(self) -> list[dict]:
        with self._lock:
            return [dict(r.to_dict(), fired=n) for r, n in zip(self._rules, self._fired)]

    def pick(self, method: str, path: str) -> Fault | None:
        """The rule that fires for this request, if any.

        Every rule counts the requests it matches on its own (so ``nth`` means
        the same whatever other rules do); when several fire, the first wins.
        """
        chosen = None
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.method is not None:
                    allowed = [rule.method] if isinstance(rule.method, str) else rule.method
                    if method.upper() not in {m.upper() for m in allowed}:
                        continue
                if rule.path is not None and not fnmatch.fnmatchcase(path, rule.path):
                    continue
                self._seen[i] += 1
                if rule.nth is not None:
                    fire = self._seen[i] in rule.nth
                elif rule.rate is not None:
                    fire = self._rng.random() < rule.rate
                else:
                    fire = True
                if rule.times is not None and self._fired[i] >= rule.times:
                    fire = False
                if fire and chosen is None:
                    self._fired[i] += 1
                    chosen = rule
        return chosen


def _transport_of(send) -> asyncio.Transport | None:
    """The connection's transport, from uvicorn's bound ``send``.

    uvicorn's ``send`` is a method of its request-response cycle object, which
    holds the transport. Only the sandbox relies on this, to reset sockets.
    """
    cycle = getattr(send, "__self__", None)
    return getattr(cycle, "transport", None)


def _reset(send, graceful: bool = False) -> None:
    """Drop the connection: a TCP reset, or (``graceful``) a close after what was sent is flushed."""
    transport = _transport_of(send)
    if transport is None:  # not uvicorn: fall back to an error the server turns into a close
        raise ConnectionResetError("sandbox fault: reset")
    if graceful:
        transport.close()
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


class _Reset(Exception):
    """Raised inside the wrapped send to stop the app after a reset."""


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultPlan` to HTTP requests."""

    def __init__(self, app, plan: FaultPlan, exempt_prefix: str = "/_sandbox/"):
        self.app = app
        self.plan = plan
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            return await self.app(scope, receive, send)
        rule = self.plan.pick(scope["method"], scope["path"])
        if rule is None:
            return await self.app(scope, receive, send)
        if rule.kind == "delay":
            await asyncio.sleep(rule.seconds)
            return await self.app(scope, receive, send)
        if rule.kind == "reset":
            _reset(send)
            return
        if rule.kind == "status":
            body = json.dumps({"detail": f"Sandbox fault: HTTP {rule.status}"}).encode()
            headers = [(b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode())]
            if rule.retry_after is not None:
                headers.append((b"retry-after", str(int(rule.retry_after)
                                                    if float(rule.retry_after).is_integer()
                                                    else rule.retry_after).encode()))
            await send({"type": "http.response.start", "status": rule.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if rule.kind == "drop_response":
            async def swallow(message):
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    raise _Reset()
            try:
                await self.app(scope, receive, swallow)
            except _Reset:
                pass
            _reset(send)
            return
        # truncate: pass the start through, then cut the body short
        state = {"length": None, "sent": 0}

        async def cutting(message):
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-length":
                        state["length"] = int(value)
                await send(message)
                return
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                total = state["length"]
                limit = int(total * rule.fraction) if total else max(1, len(body) // 2)
                room = limit - state["sent"]
                if room < len(body) or not message.get("more_body"):
                    chunk = body[:max(room, 0)]
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    # Close after the bytes sent are flushed: the client reads
                    # them, then the connection ends short of Content-Length.
                    _reset(send, graceful=True)
                    raise _Reset()
                state["sent"] += len(body)
                await send(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, cutting)
        except _Reset:
            pass

"""A small hostile HTTP server on 127.0.0.1 for the attacks the sandbox does not stage.

Each test gives it handlers by path::

    with HostileServer() as server:
        server.route("/api/items", trickle(b"[]", per_second=1))
        client = TestbedClass(server=server.url + "/api/")

With ``upstream=`` (a sandbox service's root URL) it is a proxy in front of
that service: every request without a route (or whose route's ``times`` ran
out) is forwarded, so a real module logs in and queries as usual while a
route spoils one answer (``edit_json`` changes the upstream's answer).

A handler is ``fn(request) -> None`` and writes the whole answer itself
(``request.send(...)`` for a simple one). ``server.log`` lists what was asked:
``(method, path, headers, body)``.
"""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading
import time
import urllib.parse
from typing import Callable


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        self.body = body
        self.server.owner.log.append((self.command, self.path, dict(self.headers), body))
        handler = self.server.owner.take(path)
        if handler is None and self.server.owner.upstream:
            handler = forward
        if handler is None:
            self.send_answer(404, b'{"detail": "Not found."}')
            return
        try:
            handler(self)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

    def send_answer(self, status: int = 200, body: bytes = b"", headers: dict | None = None,
                    content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class HostileServer:
    def __init__(self, upstream: str | None = None):
        self.upstream = upstream.rstrip("/") if upstream else None
        self.routes: dict[str, list] = {}
        self._lock = threading.Lock()
        self.log: list = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, path: str, handler: Callable, *, times: int | None = None) -> None:
        """Answer requests to ``path`` (the URL path, or a suffix of it) with ``handler``, ``times`` times."""
        self.routes[path] = [handler, times]

    def take(self, path: str):
        with self._lock:
            for key, entry in self.routes.items():
                if path == key or path.endswith(key):
                    handler, times = entry
                    if times is not None:
                        if times <= 0:
                            return None
                        entry[1] = times - 1
                    return handler
        return None

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def hits(self, path: str) -> int:
        """Requests whose URL path is ``path`` or ends with it."""
        return sum(1 for entry in self.log if urllib.parse.urlsplit(entry[1]).path.endswith(path))


def _upstream(request) -> tuple[int, dict, bytes]:
    """Send the request on to the upstream service; its status, headers and body."""
    import http.client
    target = urllib.parse.urlsplit(request.server.owner.upstream)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in ("host", "connection", "accept-encoding", "content-length")}
    conn.request(request.command, request.path, body=request.body or None, headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    out = {k: v for k, v in answer.getheaders()
           if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")}
    conn.close()
    return answer.status, out, body


def forward(request):
    status, headers, body = _upstream(request)
    ctype = "application/json"
    for key in list(headers):
        if key.lower() == "content-type":
            ctype = headers.pop(key)
    request.send_answer(status, body, headers, content_type=ctype)


def edit_json(edit: Callable):
    """Forward, then answer ``edit(value, query)`` instead of the upstream's JSON (query: parsed query string)."""
    def handler(request):
        status, headers, body = _upstream(request)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))
        value = edit(json.loads(body), query)
        request.send_answer(status, json.dumps(value).encode())
    return handler


# -- handlers -----------------------------------------------------------------


def answer(value, status: int = 200, headers: dict | None = None):
    """A plain JSON answer (``value`` serialised unless it is bytes)."""
    body = value if isinstance(value, bytes) else json.dumps(value).encode()

    def handler(request):
        request.send_answer(status, body, headers)
    return handler


def trickle(body: bytes, *, per_second: float = 1.0, stop_after: float = 120.0, head_first: bool = True):
    """Announces ``body`` and sends it one byte every ``1/per_second`` s (never idle long enough to time out)."""
    def handler(request):
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.flush()
        end = time.monotonic() + stop_after
        for i in range(len(body)):
            if time.monotonic() > end:
                break
            request.wfile.write(body[i:i + 1])
            request.wfile.flush()
            time.sleep(1.0 / per_second)
    return handler


def steady(body: bytes, *, bytes_per_second: int, block: int = 8192, content_type: str = "application/json"):
    """Sends ``body`` at a steady ``bytes_per_second``, in blocks (a slow link, not an attack)."""
    def handler(request):
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        for i in range(0, len(body), block):
            request.wfile.write(body[i:i + block])
            request.wfile.flush()
            time.sleep(block / bytes_per_second)
    return handler


def trickle_headers(per_second: float = 1.0, stop_after: float = 120.0):
    """Sends the status line and headers one byte at a time (the body never starts)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 400 + b"\r\n"

    def handler(request):
        end = time.monotonic() + stop_after
        for i in range(len(head)):
            if time.monotonic() > end:
                break
            request.wfile.write(head[i:i + 1])
            request.wfile.flush()
            time.sleep(1.0 / per_second)
    return handler


def gzip_bomb(expanded: int, *, document: bool = True):
    """A gzip-encoded JSON answer that expands to about ``expanded`` bytes (a list of zeros)."""
    raw = b"[" + b"0," * max(0, expanded // 2 - 1) + b"0]" if document else b" " * expanded
    compressed = gzip.compress(raw, compresslevel=9)

    def handler(request):
        request.send_answer(200, compressed, {"Content-Encoding": "gzip"})
    handler.compressed_size = len(compressed)
    return handler

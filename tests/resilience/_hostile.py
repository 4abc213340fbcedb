"""Small hostile HTTP servers on 127.0.0.1 for the download and login attacks.

- `HostileProxy`: forwards every request to a sandbox service and lets a test
  rewrite the answer (status, headers, body; sent chunked without a length).
- `FileServer`: serves one file per path with versions that change between
  requests, with or without validators, cut short, or one byte at a time.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from typing import Callable

import requests

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
       "proxy-connection", "te", "trailer", "upgrade"}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    handler: type

    def __enter__(self):
        self.server = _Server(("127.0.0.1", 0), self.handler)
        self.server.owner = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return self.server.server_address[1]


def _send(handler, status: int, headers: dict, body: bytes, *, chunked: bool = False,
          trickle: float | None = None) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    if chunked:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    try:
        if trickle is not None:  # one byte per ``trickle`` seconds
            for i in range(len(body)):
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
                time.sleep(trickle)
        elif chunked:
            if body:
                handler.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")  # a proper end: nothing on the wire says bytes are missing
        else:
            handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    handler.close_connection = True


class HostileProxy(_Base):
    """Forward to ``upstream`` (``http://127.0.0.1:port``); ``mangle`` may rewrite answers.

    ``mangle(method, path, status, headers, body)`` returns ``None`` (pass on
    unchanged) or ``(status, headers, body, chunked)``. ``requests_seen`` lists
    ``(method, path)`` of every request.
    """

    def __init__(self, upstream: str, mangle: Callable | None = None):
        self.upstream = upstream.rstrip("/")
        self.mangle = mangle
        self.requests_seen: list[tuple[str, str]] = []
        self.handler = type("Handler", (_ProxyHandler,), {})

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        owner: HostileProxy = self.server.owner
        owner.requests_seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        answer = requests.request(self.command, owner.upstream + self.path, headers=headers, data=data,
                                  allow_redirects=False, timeout=60)
        out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP}
        status, body, chunked = answer.status_code, answer.content, False
        if owner.mangle is not None:
            changed = owner.mangle(self.command, self.path, status, out_headers, body)
            if changed is not None:
                status, out_headers, body, chunked = changed
        _send(self, status, out_headers, body, chunked=chunked)

    do_GET = do_POST = do_PUT = do_DELETE = _any


def cut_downloads(marker: str, fraction: float = 0.5):
    """A ``mangle`` that sends the answers of paths containing ``marker`` cut to ``fraction``, chunked, no length."""
    def mangle(method, path, status, headers, body):
        if marker not in path or status not in (200, 206):
            return None
        return status, headers, body[: int(len(body) * fraction)], True
    return mangle


def version_bytes(version: int, size: int) -> bytes:
    block = hashlib.sha256(f"version {version}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class FileServer(_Base):
    """One file at every path ``/api/files/<name>``, ``size`` bytes.

    Behaviour (attributes, changeable between requests):

    - ``version``: which bytes are served (`version_bytes`); ``bump_after``:
      after this many GETs the version goes up by one (the file changes on the
      server between the first answer and a resume);
    - ``validators``: send a strong ``ETag`` (of the version) and honour ``If-Range``;
    - ``cut``: the first ``cut`` answers stop after half the body (``Content-Length`` intact);
    - ``trickle``: seconds per byte (a slow server);
    - ``log``: ``(range, if_range, status)`` of every GET.
    """

    def __init__(self, size: int = 20_000, *, validators: bool = True, bump_after: int | None = None,
                 cut: int = 0, trickle: float | None = None):
        self.size = size
        self.version = 1
        self.validators = validators
        self.bump_after = bump_after
        self.cut = cut
        self.trickle = trickle
        self.log: list[tuple] = []
        self.handler = type("Handler", (_FileHandler,), {})
        self._lock = threading.Lock()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def etag(self, version: int | None = None) -> str:
        return f'"v{self.version if version is None else version}"'


class _FileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        owner: FileServer = self.server.owner
        with owner._lock:
            count = len(owner.log) + 1
            if owner.bump_after is not None and count == owner.bump_after + 1:
                owner.version += 1
            version = owner.version
            cut = count <= owner.cut
        data = version_bytes(version, owner.size)
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if owner.validators:
            headers["ETag"] = owner.etag(version)
        start = 0
        if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
            if not (owner.validators and if_range is not None and if_range != owner.etag(version)):
                start = int(wanted[6:-1])
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        owner.log.append((wanted, if_range, status))
        if cut:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        _send(self, status, headers, body, trickle=owner.trickle)

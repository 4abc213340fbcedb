"""Local, faithful servers of the four services, for tests, docs, demos and benchmarks.

>>> from astroquery_ext.sandbox import Sandbox
>>> with Sandbox(services=["atlas"]) as sb:            # doctest: +SKIP
...     Atlas = sb.client("atlas")
...     Atlas.login(token=sb.credentials("atlas")["token"])

By default every service behaves as the real one does wherever that is known
(ATLAS allows 100 requests an hour, Glance has its known server bugs...), and
where it is not, as the more demanding choice: code that passes here should
not fail there. ``mode="relaxed"`` (for every service, or a dict by service)
switches the known differences the lenient way, for test suites that need many
requests or no server bugs; :mod:`astroquery_ext.sandbox._modes` lists them.

Each service runs in its own process (so a benchmark's client and server do
not share a GIL) on 127.0.0.1, on a free port unless one is given. Sample
data is deterministic for a given ``seed``. What the services store lives
under ``data_dir`` (a temporary directory, removed on exit, unless given), so
writes survive a restart when you give the same ``data_dir`` again.

With ``tls=True`` every server speaks HTTPS with a certificate for
``127.0.0.1`` and ``localhost`` signed by a CA generated for this sandbox
(``Sandbox.ca_file``); clients verify it only once told to trust that CA
(``REQUESTS_CA_BUNDLE=sandbox.ca_file``, or ``client.verify = sandbox.ca_file``).

``python -m astroquery_ext.sandbox`` runs it in the foreground and prints what
to connect to. The package itself never imports this subpackage at run time.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Mapping

from astroquery_ext.sandbox import _modes
from astroquery_ext.sandbox.faults import Fault

__all__ = ["Sandbox", "Fault", "AVAILABLE_SERVICES", "SandboxError", "start_all"]

#: Services the harness knows. ``testbed`` is a minimal generic service used by
#: the shared base's tests (and a template for new apps).
AVAILABLE_SERVICES = ("atlas", "grad300", "glance", "tupli", "testbed")

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


#: The client class of each service `Sandbox.client` builds: (module, class).
_CLIENTS = {"atlas": ("astroquery_ext.atlas", "AtlasClass"),
            "grad300": ("astroquery_ext.grad300", "Grad300Class"),
            "glance": ("astroquery_ext.glance", "GlanceClass"),
            "tupli": ("astroquery_ext.tupli", "TupliClass")}


class SandboxError(RuntimeError):
    """A sandbox server could not be started or answered unexpectedly."""


class _Server:
    def __init__(self, name, process, origin, sock, log_path):
        self.name = name
        self.process = process
        self.origin = origin
        self.sock = sock
        self.log_path = log_path
        self.info: dict[str, Any] = {}


class Sandbox:
    """Start sandbox servers; stop them on exit.

    Parameters
    ----------
    services : iterable of str, or dict
        Service names (see `AVAILABLE_SERVICES`), or a dict mapping each name
        to its options (sizes of the sample data, throttle rates...; see the
        service app's module docs).
    data_dir : path-like, optional
        Where the services keep what they store. Default: a temporary
        directory, removed when the sandbox stops.
    seed : int
        Seed of the sample data.
    faults : list or dict, optional
        Fault rules (`Fault` or dicts) applied to every service, or a dict
        mapping service names to their rules. See
        :mod:`astroquery_ext.sandbox.faults`.
    ports : dict, optional
        Fixed ports by service name; others get a free port.
    startup_timeout : float
        Seconds to wait for each server to answer.
    tls : bool
        Serve HTTPS with a certificate signed by a CA made for this sandbox
        (under ``data_dir/tls/``; see `ca_file`). Needs ``cryptography``.
    mode : {"production", "relaxed"} or dict
        ``"production"`` (the default): throttles, validation, error formats
        and known server bugs as the real services have them. ``"relaxed"``:
        those differences switched the lenient way (see ``docs/sandbox.rst``).
        A dict gives the mode by service (others: production). Options given
        in ``services`` win over both.
    """

    def __init__(self, services: Iterable[str] | Mapping[str, dict] = ("atlas", "grad300", "glance", "tupli"),
                 *, data_dir=None, seed: int = 0, faults=None, ports: Mapping[str, int] | None = None,
                 startup_timeout: float = 120.0, log_level: str = "warning", tls: bool = False,
                 mode: str | Mapping[str, str] = "production"):
        if isinstance(services, str):
            services = [services]
        options = dict(services) if isinstance(services, Mapping) else {s: {} for s in services}
        for name in options:
            if name not in AVAILABLE_SERVICES:
                raise ValueError(f"unknown sandbox service {name!r}; "
                                 f"choose from {', '.join(AVAILABLE_SERVICES)}")
        if not options:
            raise ValueError("services must name at least one service")
        # Imported here: the server processes import this package and need none of the clients' base.
        from astroquery_ext._base.extras import require_extra

        require_extra("sandbox", "The sandbox")
        if isinstance(mode, Mapping):
            unknown = set(mode) - set(options)
            if unknown:
                raise ValueError(f"mode names services not started: {', '.join(sorted(unknown))}")
            modes = {name: mode.get(name, "production") for name in options}
        else:
            modes = {name: mode for name in options}
        self._modes = {name: _modes.check_mode(m, name) for name, m in modes.items()}
        self._options = {name: _modes.options_for(name, self._modes[name], opts)
                         for name, opts in options.items()}
        self._seed = int(seed)
        self._faults = self._faults_by_service(faults)
        self._ports = dict(ports or {})
        self._given_data_dir = data_dir
        self._data_dir: Path | None = None
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self._tls = bool(tls)
        self._tls_files: dict[str, Path] = {}
        self._servers: dict[str, _Server] = {}
        self._watchdog: tuple[int, ...] = ()

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Sandbox":
        """Start every service and wait until each answers."""
        return start_all([self])[0]

    def _launch(self) -> bool:
        """Spawn the servers (without waiting for them); False if already running."""
        if self._servers:
            return False
        if self._given_data_dir is None:
            # mkdtemp makes it 0700: what the services store is private to this user.
            self._data_dir = Path(tempfile.mkdtemp(prefix="astroquery-ext-sandbox-"))
        else:
            self._data_dir = Path(self._given_data_dir)
            self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A sandbox left running (a notebook, a doc page) must not outlive Python.
        atexit.register(self.stop)
        try:
            if self._tls:
                self._tls_files = _make_tls_files(self._data_dir / "tls")
            # The servers watch the read end: it reads EOF once this process is gone, however it died.
            self._watchdog = os.pipe()
            for name in self._options:
                self._servers[name] = self._spawn(name)
        except BaseException:
            self.stop()
            raise
        return True

    def _await_ready(self) -> None:
        try:
            for server in self._servers.values():
                self._wait_ready(server)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every server (SIGTERM, then SIGKILL after 10 s)."""
        atexit.unregister(self.stop)
        servers, self._servers = self._servers, {}
        for server in servers.values():
            if server.process.poll() is None:
                server.process.terminate()
        for server in servers.values():
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
            server.sock.close()
        for fd in self._watchdog:
            os.close(fd)
        self._watchdog = ()
        if self._given_data_dir is None and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    # -- what clients need -------------------------------------------------

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(self._options)

    def mode(self, service: str) -> str:
        """``"production"`` or ``"relaxed"``: how close to the real service ``service`` runs."""
        if service not in self._modes:
            raise KeyError(f"sandbox service {service!r} is not part of this sandbox; "
                           f"services: {', '.join(self._modes)}")
        return self._modes[service]

    def options(self, service: str) -> dict:
        """The options ``service`` was started with (its mode's values, then the ones given)."""
        self.mode(service)
        return dict(self._options[service])

    def client(self, service: str, **overrides: Any):
        """A new client of ``service`` pointed at this sandbox (not logged in).

        ``Sandbox.client("atlas")`` is ``AtlasClass(server=sandbox.url("atlas"))``;
        for Glance it also points the OIDC endpoints at the sandbox's provider
        and the login callback at 127.0.0.1 on a free port (what the app puts
        in its info under ``client_settings``). ``overrides`` are
        constructor arguments that win over the sandbox's values. Log in as
        with the real service, e.g. ``client.login(token=sandbox.credentials("atlas")["token"])``.
        """
        import importlib

        if service not in _CLIENTS:
            raise ValueError(f"the sandbox offers clients of {', '.join(_CLIENTS)}, not {service!r}")
        module_name, class_name = _CLIENTS[service]
        cls = getattr(importlib.import_module(module_name), class_name)
        # A service app may hand over more constructor arguments in its info (Glance: its OIDC provider).
        kwargs: dict[str, Any] = {"server": self.url(service), **self.info(service).get("client_settings", {})}
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def data_dir(self) -> Path:
        self._require_started()
        return self._data_dir

    @property
    def tls(self) -> bool:
        """Whether the servers speak HTTPS."""
        return self._tls

    @property
    def ca_file(self) -> Path | None:
        """PEM file of the CA that signed the servers' certificate (None without ``tls``)."""
        self._require_started()
        return self._tls_files.get("ca")

    def origin(self, service: str) -> str:
        """``http(s)://127.0.0.1:PORT`` of one service."""
        return self._server(service).origin

    def url(self, service: str) -> str:
        """The URL to point a client at (the service's API root)."""
        server = self._server(service)
        return server.origin + server.info["root"]

    def credentials(self, service: str, user: str | None = None) -> dict:
        """Credentials of the default user, or of ``user``."""
        info = self._server(service).info
        if user is None:
            return dict(info["credentials"])
        try:
            return dict(info["users"][user])
        except KeyError:
            raise KeyError(f"sandbox service {service!r} has no user {user!r}; "
                           f"users: {', '.join(info['users'])}") from None

    def users(self, service: str) -> dict[str, dict]:
        return {k: dict(v) for k, v in self._server(service).info["users"].items()}

    def info(self, service: str) -> dict:
        """Service-specific extras (OIDC endpoints, data sizes...)."""
        return dict(self._server(service).info["info"])

    def request_log(self, service: str) -> list[dict]:
        """Requests answered so far: dicts with ``method``, ``path``, ``status``.

        ``status`` is None when a fault reset the connection before any answer.
        """
        return self._control(service, "GET", "requests")

    def clear_request_log(self, service: str) -> None:
        self._control(service, "DELETE", "requests")

    def cpu_seconds(self, service: str) -> float:
        """CPU time the service's server process has used so far (all its threads).

        Benchmarks read it before and after a run: a client can finish no
        sooner than the server's share of the work, however it is written.
        """
        return float(self._control(service, "GET", "usage")["cpu_seconds"])

    def control(self, service: str, name: str) -> Any:
        """Run one of a service's test controls and return its result.

        Every service: ``"expire-access-tokens"`` expires every access token
        issued so far (refresh tokens stay valid; ATLAS's staff tokens never
        expire), so a test passes a token's lifetime without waiting for it:
        the next request with one is answered as an expired token is. ATLAS:
        ``"end-throttle-windows"`` starts every request-rate window over
        (stored data untouched), so a test passes ``throttle_period`` without
        waiting. Each returns how many tokens (windows) it ended.
        """
        return self._control(service, "POST", name)["result"]

    def set_faults(self, service: str, faults: Iterable[Fault | dict] = ()) -> list[dict]:
        """Replace the fault rules of one service (``[]`` switches faults off)."""
        rules = [Fault.from_any(f).to_dict() for f in faults]
        return self._control(service, "PUT", "faults", rules)

    def reset(self, service: str) -> None:
        """Put what ``service`` stores back as it was when it started.

        What clients wrote since (ATLAS list changes and VRA rows, Tupli
        benchmarks, artifacts, episodes, users, groups...) and data added with
        `load_data` are gone, and ATLAS's request-rate windows start over.
        Faults and the request log are not touched.
        """
        self._control(service, "POST", "reset")

    def load_data(self, service: str, **what: Any) -> dict:
        """Add your own data to a running service; returns what was added.

        ATLAS: ``objects=`` a table file (FITS, ECSV...; one row per object:
        ``ra``, ``dec``, optionally ``atlas_id`` and ``name``) and
        ``lightcurves=`` a table file of detections (``atlas_id``, ``mjd``,
        ``mag``, ``magerr``, ``filter``). GRAD300: ``scans=`` a list of the
        scan FITS files to serve. Paths are read by the server, on this
        machine. What is loaded is gone after `reset`.
        """
        payload = {k: (str(v) if isinstance(v, os.PathLike) else
                       [str(p) for p in v] if isinstance(v, (list, tuple)) else v) for k, v in what.items()}
        for key, value in payload.items():  # the server runs elsewhere: absolute paths only
            if isinstance(value, str) and os.path.exists(value):
                payload[key] = os.path.abspath(value)
            elif isinstance(value, list):
                payload[key] = [os.path.abspath(p) if os.path.exists(p) else p for p in value]
        return self._control(service, "POST", "load", payload)

    def faults(self, service: str) -> list[dict]:
        """The rules in force, each with how often it ``fired``."""
        return self._control(service, "GET", "faults")

    def __repr__(self) -> str:
        running = ", ".join(f"{n}={s.origin}" for n, s in self._servers.items()) or "stopped"
        return f"<Sandbox {running}>"

    # -- internals ---------------------------------------------------------

    def _faults_by_service(self, faults) -> dict[str, list[dict]]:
        if not faults:
            return {name: [] for name in self._options}
        if isinstance(faults, Mapping):
            unknown = set(faults) - set(self._options)
            if unknown:
                raise ValueError(f"faults name services not started: {', '.join(sorted(unknown))}")
            return {name: [Fault.from_any(f).to_dict() for f in faults.get(name, ())]
                    for name in self._options}
        rules = [Fault.from_any(f).to_dict() for f in faults]
        return {name: rules for name in self._options}

    def _require_started(self) -> None:
        if not self._servers and self._data_dir is None:
            raise SandboxError("the sandbox is not running: use it as a context manager or call start()")

    def _server(self, service: str) -> _Server:
        self._require_started()
        try:
            return self._servers[service]
        except KeyError:
            raise KeyError(f"sandbox service {service!r} is not running; "
                           f"running: {', '.join(self._servers)}") from None

    def _spawn(self, name: str) -> _Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn rebuilds an inherited socket without knowing it is TCP, so it
        # never sets TCP_NODELAY; set on the listener, Linux passes it on to
        # accepted sockets (else every answer waits ~40 ms for Nagle + delayed ACK).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", int(self._ports.get(name, 0))))
        sock.listen(256)
        sock.set_inheritable(True)
        scheme = "https" if self._tls else "http"
        origin = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
        service_dir = self._data_dir / name
        service_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_path = service_dir / "server.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "astroquery_ext.sandbox._server",
               "--service", name, "--fd", str(sock.fileno()), "--origin", origin,
               "--data-dir", str(service_dir), "--seed", str(self._seed),
               "--options", json.dumps(self._options[name]),
               "--faults", json.dumps(self._faults[name]), "--log-level", self._log_level,
               "--watchdog-fd", str(self._watchdog[0]), "--parent-pid", str(os.getpid())]
        if threading.current_thread() is threading.main_thread():
            # Linux kills the server when the *thread* that spawned it ends: ask only from the main thread.
            cmd.append("--parent-death-signal")
        if self._given_data_dir is None:  # an orphaned server removes the temporary data it was given
            cmd += ["--remove-if-orphaned", str(self._data_dir)]
        if self._tls:
            cmd += ["--tls-cert", str(self._tls_files["cert"]), "--tls-key", str(self._tls_files["key"])]
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(cmd, pass_fds=(sock.fileno(), self._watchdog[0]), stdin=subprocess.DEVNULL,
                                       stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                       cwd=str(service_dir))
        return _Server(name, process, origin, sock, log_path)

    def _wait_ready(self, server: _Server) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if server.process.poll() is not None:
                raise SandboxError(f"sandbox service {server.name!r} exited with code "
                                   f"{server.process.returncode}:\n{self._log_tail(server)}")
            try:
                server.info = self._get_json(server.origin + "/_sandbox/info", timeout=5,
                                             ca_file=self._tls_files.get("ca"))
                return
            except (urllib.error.URLError, OSError, ValueError):
                if time.monotonic() > deadline:
                    raise SandboxError(f"sandbox service {server.name!r} did not answer within "
                                       f"{self._startup_timeout:.0f} s:\n{self._log_tail(server)}") from None
                time.sleep(0.1)

    @staticmethod
    def _log_tail(server: _Server, lines: int = 30) -> str:
        try:
            return "\n".join(server.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    @staticmethod
    def _get_json(url: str, timeout: float = 30, method: str = "GET", payload=None, ca_file=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        # The sandbox is on loopback: never go through a proxy.
        handlers = [urllib.request.ProxyHandler({})]
        if ca_file is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca_file))))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(request, timeout=timeout) as response:
            return json.loads(response.read())

    def _control(self, service: str, method: str, route: str, payload=None):
        server = self._server(service)
        try:
            return self._get_json(f"{server.origin}/_sandbox/{route}", method=method, payload=payload,
                                  ca_file=self._tls_files.get("ca"))
        except urllib.error.HTTPError as exc:
            raise SandboxError(f"sandbox {service} {route}: HTTP {exc.code}: {exc.read()[:500]!r}") from None


def start_all(sandboxes: Iterable[Sandbox]) -> list[Sandbox]:
    """Start several sandboxes at once: every server is spawned, then each is waited for.

    Their start-up work overlaps, so four services start in about the time of
    the slowest. Sandboxes already running are left as they are. If one fails
    to start, those this call started are stopped again.
    """
    sandboxes = list(sandboxes)
    launched = []
    try:
        for sandbox in sandboxes:
            if sandbox._launch():
                launched.append(sandbox)
        for sandbox in launched:
            sandbox._await_ready()
    except BaseException:
        for sandbox in launched:
            sandbox.stop()
        raise
    return sandboxes


def _make_tls_files(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it (PEM files, keys 0600)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "astroquery-ext sandbox CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server-key.pem"}
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(files["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return files

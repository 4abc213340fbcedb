"""The ``astroquery-ext`` command: the four services from a shell.

    astroquery-ext atlas login --username me
    astroquery-ext atlas cone 63.704 -8.503 60
    astroquery-ext atlas lightcurves 1000005291314656200 -o lc.ecsv
    astroquery-ext grad300 query --type TPI --source casa
    astroquery-ext glance search analyses 'status = "Phase 0 Active"' --limit 20
    astroquery-ext tupli benchmarks list --format json
    astroquery-ext cache info
    astroquery-ext sandbox --services atlas grad300

Every service command takes ``--server URL`` (default: the module's
``conf.server``). Commands that return a table take ``--format
table|csv|ecsv|json|votable`` and ``-o/--output FILE`` (the format is then
guessed from the file's extension). Results go to standard output, and
nothing else does: progress, warnings and messages go to standard error.

Exit status: 0 on success, 1 when a service or an argument is refused (one
line on standard error says why), 2 on a usage error, 130 when interrupted.

Credentials are never taken as plain options except an ATLAS API token
(``--token -`` reads it from standard input); passwords come from the same
chain as the modules: ``ASTROQUERY_EXT_<SERVICE>_PASSWORD``, the keyring, or
a prompt when standard input is a terminal. Logins are stored (keyring, else a
private file) so that later commands need none; ``logout`` removes them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from astroquery_ext import SERVICES, __version__

__all__ = ["main", "build_parser", "write_table"]

PROG = "astroquery-ext"
FORMATS = ("table", "csv", "ecsv", "json", "votable")
_EXTENSIONS = {".csv": "csv", ".ecsv": "ecsv", ".json": "json", ".xml": "votable", ".vot": "votable",
               ".votable": "votable", ".txt": "table", ".tbl": "table"}


class UsageError(Exception):
    """A command line that parses but makes no sense (exit status 2)."""


# -- results ---------------------------------------------------------------------------------


class Result:
    """What a command hands back to `main` to write on standard output."""

    def __init__(self, value: Any = None, *, kind: str = "none", columns: list[str] | None = None):
        self.value = value
        self.kind = kind          # "table", "json", "text" or "none"
        self.columns = columns    # columns of a table to show in the "table" format
        self.error: str | None = None  # set when the output is partial: exit status 1 after writing it


def _json_value(value: Any) -> Any:
    """A value of a table cell or record, as JSON can hold it (NaN and masked become null)."""
    import numpy as np

    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_value(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isot"):  # astropy Time
        return value.isot
    if hasattr(value, "value") and hasattr(value, "unit"):  # Quantity
        return _json_value(value.value)
    return str(value)


def _column_values(col) -> list:
    """A column's values as Python objects (masked -> None, Time -> ISO strings)."""
    import numpy as np
    from astropy.time import Time

    if isinstance(col, Time):
        iso = col.isot
        mask = np.ma.getmaskarray(col.mask) if getattr(col, "masked", False) else None
        values = np.asarray(getattr(iso, "unmasked", iso)).tolist()
        if isinstance(values, str):
            values = [values]
        return [None if mask is not None and m else v for v, m in zip(values, mask)] if mask is not None \
            else values
    from astropy.table import Column
    from astropy.units import Quantity

    if isinstance(col, Quantity):
        data = col.value
    elif isinstance(col, Column):
        data = col.data  # a masked array for a MaskedColumn
    else:  # other mixins (SkyCoord...): their text
        data = np.array([str(v) for v in col], dtype=object)
    if data.dtype.kind == "O":
        mask = np.ma.getmaskarray(data) if np.ma.isMaskedArray(data) else np.zeros(len(data), bool)
        return [None if m else _json_value(v) for v, m in zip(np.asarray(data), mask)]
    return [_json_value(v) for v in data.tolist()]


def table_records(table) -> list[dict]:
    """The rows of a Table as JSON-ready dicts (column order kept)."""
    names = table.colnames
    columns = [_column_values(table[name]) for name in names]
    return [dict(zip(names, row)) for row in zip(*columns)] if names else []


def _flatten_for(table, fmt: str):
    """A copy of ``table`` that the writer of ``fmt`` can take.

    Object columns (lists, dicts) become compact JSON text for csv, votable
    and the plain table; multidimensional columns become JSON text for csv;
    Time columns become ISO text for csv and votable. ECSV keeps all of them.
    """
    import numpy as np
    from astropy.table import MaskedColumn, Table
    from astropy.time import Time

    out = Table(table, copy=False)
    if fmt == "ecsv":
        return out
    for name in out.colnames:
        col = out[name]
        if isinstance(col, Time):
            if fmt in ("csv", "votable"):
                values = _column_values(col)
                out[name] = MaskedColumn([v or "" for v in values], mask=[v is None for v in values],
                                         description=getattr(col.info, "description", None))
            continue
        kind = getattr(getattr(col, "dtype", None), "kind", "")
        multi = getattr(col, "ndim", 1) > 1
        if kind == "O" or (multi and fmt == "csv"):
            values = _column_values(col)
            text = [json.dumps(v, separators=(",", ":"), default=str) if v is not None else "" for v in values]
            if fmt == "table":
                text = [t if len(t) <= 60 else t[:59] + "\u2026" for t in text]
            out[name] = MaskedColumn(np.array(text, dtype=str) if text else np.array([], dtype=str),
                                     mask=[v is None for v in values], unit=getattr(col, "unit", None),
                                     description=getattr(col.info, "description", None))
    if fmt in ("csv", "votable", "table"):
        out.meta = {}
    return out


def _format_for(path: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if path is None or path == "-":
        return "table"
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise UsageError(f"cannot tell the format of {path!r} from its extension; pass --format "
                         f"({', '.join(FORMATS)})")
    return _EXTENSIONS[suffix]


def write_table(table, fmt: str, stream) -> None:
    """Write ``table`` in ``fmt`` to a binary stream."""
    if fmt == "json":
        stream.write(json.dumps(table_records(table), indent=None, allow_nan=False).encode() + b"\n")
        return
    flat = _flatten_for(table, fmt)
    if fmt == "table":
        lines = flat.pformat(max_lines=-1, max_width=-1)
        stream.write(("\n".join(lines) + "\n").encode())
    elif fmt == "votable":
        flat.write(stream, format="votable")
    else:
        text = io.StringIO()
        try:
            flat.write(text, format=f"ascii.{fmt}")
        except Exception:  # metadata that YAML cannot hold: the data matter more
            flat.meta = {}
            text = io.StringIO()
            flat.write(text, format=f"ascii.{fmt}")
        stream.write(text.getvalue().encode())


@contextlib.contextmanager
def _output_stream(path: str | None, stdout):
    """The binary stream to write to: standard output, or a file written atomically."""
    if path is None or path == "-":
        yield stdout.buffer if hasattr(stdout, "buffer") else _TextAsBinary(stdout)
        stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--output {path!r} is a directory; give a file name")
    if not target.parent.is_dir():
        raise ValueError(f"--output: directory {str(target.parent)!r} does not exist")
    part = target.with_name(target.name + ".part")
    try:
        with open(part, "wb") as handle:
            yield handle
        os.replace(part, target)
    finally:
        if part.exists():
            part.unlink()


class _TextAsBinary:
    def __init__(self, text_stream):
        self._stream = text_stream

    def write(self, data: bytes) -> int:
        return self._stream.write(data.decode())

    def flush(self) -> None:
        self._stream.flush()


def emit(result: Result | None, args, stdout) -> None:
    """Write a command's result to standard output or ``--output``."""
    if result is None or result.kind == "none":
        return
    output = getattr(args, "output", None)
    if result.kind == "table":
        fmt = _format_for(output, getattr(args, "format", None))
        table = result.value
        if fmt == "table" and result.columns:
            table = table[[c for c in result.columns if c in table.colnames]]
        with _output_stream(output, stdout) as stream:
            write_table(table, fmt, stream)
        if output not in (None, "-"):
            _say(f"wrote {len(result.value)} rows to {output} ({fmt})")
    elif result.kind == "json":
        text = json.dumps(_json_value(result.value), indent=2, allow_nan=False) + "\n"
        with _output_stream(output, stdout) as stream:
            stream.write(text.encode())
        if output not in (None, "-"):
            _say(f"wrote {output}")
    else:
        with _output_stream(output, stdout) as stream:
            stream.write((str(result.value) + "\n").encode())


# -- messages ------------------------------------------------------------------------------------

def _say(message: str) -> None:
    """A message for the user: standard error, never standard output."""
    print(f"{PROG}: {message}", file=sys.__stderr__ if sys.stderr is None else sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    from astroquery_ext._base.query import redact

    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == "DSLError":  # the caret lines under it only make sense in a terminal
        text = text.splitlines()[0]
    text = " ".join(text.split())
    if isinstance(exc, (KeyError, LookupError)) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return redact(text)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    if category.__name__ == "MaxResultsWarning":  # the modules' argument is --limit here
        text = text.replace("Pass a larger row_limit (or -1 for all)", "Pass a larger --limit").replace(
            "row_limit=", "--limit ")
    _say(f"warning: {text}")


# -- the state the command line keeps between runs ------------------------------------------------

def _state_file() -> Path:
    from astropy.config.paths import get_config_dir_path

    return get_config_dir_path() / "astroquery_ext" / "cli.json"


def _read_state() -> dict:
    try:
        data = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_user(service: str, server: str, username: str | None) -> None:
    """Keep the user name of the last login (never a secret) for later commands on that server."""
    from astroquery_ext._base.cache import write_private

    data = _read_state()
    users = data.setdefault(service, {})
    if username:
        users[server] = username
    else:
        users.pop(server, None)
    write_private(_state_file(), json.dumps(data, indent=1).encode())


def _remembered_user(service: str, server: str) -> str | None:
    value = _read_state().get(service, {}).get(server)
    return value if isinstance(value, str) and value else None


# -- clients ------------------------------------------------------------------------------------------

def _module(service: str):
    import importlib

    return importlib.import_module(f"astroquery_ext.{service}")


def _discover_oidc(issuer: str, timeout: float) -> dict:
    import requests

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        doc = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ValueError(f"--issuer: could not read the OpenID configuration at {url} "
                         f"({type(exc).__name__})") from None
    keys = ("issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "jwks_uri",
            "device_authorization_endpoint")
    return {k: doc[k] for k in keys if isinstance(doc.get(k), str)}


def make_client(service: str, args):
    """A service object for this command: ``--server``, ``--timeout`` (and Glance's login service)."""
    module = _module(service)
    cls = getattr(module, {"atlas": "AtlasClass", "grad300": "Grad300Class", "glance": "GlanceClass",
                           "tupli": "TupliClass"}[service])
    kwargs = {"server": getattr(args, "server", None), "timeout": getattr(args, "timeout", None)}
    if service == "glance":
        if getattr(args, "issuer", None):
            kwargs.update(_discover_oidc(args.issuer, kwargs["timeout"] or 30.0))
        if getattr(args, "web_url", None):
            kwargs["web_base_url"] = args.web_url
    return cls(**kwargs)


@contextlib.contextmanager
def _default_username(service: str, client):
    """Use the user name remembered from ``login`` when none is configured."""
    from astroquery_ext._base.credentials import env_var

    remembered = None
    if service != "glance" and not os.environ.get(env_var(service, "username")) and not client.conf.username:
        remembered = _remembered_user(service, client.server)
    if remembered:
        with client.conf.set_temp("username", remembered):
            yield remembered
    else:
        yield None


def _resume(client) -> bool:
    """Log in from the environment or a stored login, never prompting; False when there is none."""
    from astroquery_ext._base.credentials import no_prompt
    from astroquery_ext.exceptions import LoginError

    if client.authenticated():
        return True
    try:
        with no_prompt():
            client._auto_login()
    except LoginError:
        return False
    return client.authenticated()


def _principal(client) -> str | None:
    state = getattr(client, "_auth", None)
    return getattr(state, "principal", None)


def _show_progress() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# -- login, logout, whoami (every service) -------------------------------------------------------

def cmd_login(service: str, client, args) -> Result:
    if service == "atlas":
        token = args.token
        if token == "-":
            token = sys.stdin.readline().strip()
        client.login(token, username=args.username, store_token=not args.no_store)
    elif service == "grad300":
        client.login(args.username, store_token=not args.no_store, store_password=args.store_password)
    elif service == "tupli":
        client.login(args.username, store_password=args.store_password, persist=not args.no_store)
    else:  # glance
        method = "device" if args.device else "manual" if args.manual else "browser"
        opener = None
        if method == "browser":
            def opener(url: str) -> None:
                _say(f"log in at this address (it opens in your browser unless --no-browser):\n{url}")
                if not args.no_browser:
                    import webbrowser
                    webbrowser.open(url)

        def show(start: dict) -> None:
            where = start.get("verification_uri_complete") or start.get("verification_uri")
            _say(f"to log in, open {where} and enter the code {start.get('user_code')}")

        def ask(prompt: str) -> str:
            print(prompt, end="", file=sys.stderr, flush=True)
            return sys.stdin.readline()

        client.login(method=method, offline=args.offline, port=args.port, open_browser=opener,
                     store_token=not args.no_store, force=args.force, show=show, ask=ask)
    who = _principal(client)
    if service != "glance" and not args.no_store:
        _remember_user(service, client.server, who)
    stored = "" if args.no_store else "; stored for later commands"
    _say(f"{service}: logged in{' as ' + who if who else ''} at {client.server}{stored}")
    return Result()


def cmd_logout(service: str, client, args) -> Result:
    if service != "glance":
        _resume(client)
    who = _principal(client)
    client.logout(forget=True)
    if service != "glance":
        _remember_user(service, client.server, None)
    _say(f"{service}: logged out{' ' + who if who else ''}; stored credentials removed")
    return Result()


def cmd_whoami(service: str, client, args) -> Result:
    from astroquery_ext.exceptions import LoginError

    if not _resume(client):
        raise LoginError(f"not logged in to {service} at {client.server}: run '{PROG} {service} login'")
    who = _principal(client)
    if service == "grad300":
        who = client.test_token().get("email") or who
    return Result(who or "(logged in with a token; user name unknown)", kind="text")


# -- ATLAS ----------------------------------------------------------------------------------------------

def _radius(text: str):
    import astropy.units as u

    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = u.Quantity(text)
    except (TypeError, ValueError):
        raise ValueError(f"radius must be arcseconds or an angle such as 30arcsec or 1arcmin; got {text!r}") \
            from None
    if value.unit.physical_type != "angle":
        raise ValueError(f"radius must be an angle; got {text!r}")
    return value


def _ids(args) -> list[str]:
    ids = list(args.ids or [])
    if args.ids_file:
        handle = sys.stdin if args.ids_file == "-" else open(args.ids_file, encoding="utf-8")
        with handle if handle is not sys.stdin else contextlib.nullcontext(handle):
            for line in handle:
                ids.extend(t for t in line.replace(",", " ").split() if not t.startswith("#"))
    if not ids:
        raise UsageError("give ATLAS ids as arguments or with --ids-file")
    return ids


def cmd_atlas_cone(client, args) -> Result:
    table = client.query_region(f"{args.ra} {args.dec}", _radius(args.radius), request_type=args.type,
                                cache=False if args.no_cache else None)
    return Result(table, kind="table")


def cmd_atlas_lightcurves(client, args) -> Result:
    get = client.get_forced_photometry if args.forced else client.get_lightcurves
    return Result(get(_ids(args), mjd_min=args.mjd_min, cache=False if args.no_cache else None,
                      show_progress=_show_progress()), kind="table")


def cmd_atlas_objects(client, args) -> Result:
    return Result(client.query_objects(_ids(args), cache=False if args.no_cache else None,
                                       show_progress=_show_progress()), kind="table")


def cmd_atlas_list(client, args) -> Result:
    name = int(args.name) if args.name.isdigit() else args.name
    if args.custom:
        return Result(client.query_custom_lists(name), kind="table")
    return Result(client.query_list(name, since=args.since, vra_min=args.vra_min, vra_max=args.vra_max),
                  kind="table")


# -- GRAD300 ---------------------------------------------------------------------------------------------

def _grad300_filters(args) -> dict:
    return {"source": args.source, "scan_name": args.scan_name, "date_from": args.date_from,
            "date_to": args.date_to}


def cmd_grad300_query(client, args) -> Result:
    table = client.query(args.type, row_limit=args.limit, cache=False if args.no_cache else None,
                         **_grad300_filters(args))
    return Result(table, kind="table")


def cmd_grad300_download(client, args) -> Result:
    if args.id:
        if not args.type:
            raise UsageError("--id needs --type (scan ids are counted per scan type)")
        if any(v is not None for v in _grad300_filters(args).values()):
            raise UsageError("give either --id or query filters (--source, --scan-name, --from, --to), not both")
        rows = [{"id": i, "scan_type": args.type} for i in args.id]
    else:
        if not args.all and args.type is None and all(v is None for v in _grad300_filters(args).values()):
            raise UsageError("say what to download: --type and --id, query filters (--type, --source, "
                             "--scan-name, --from, --to), or --all for the whole archive")
        rows = client.query(args.type, row_limit=args.limit, **_grad300_filters(args))
        _say(f"grad300: {len(rows)} scans match")
    target = Path(args.output_dir)
    manifest = client.download_scans(rows, target, max_workers=args.workers, overwrite=args.overwrite,
                                     show_progress=_show_progress(), errors="ignore")
    failed = [r for r in manifest if r["status"] == "error"]
    done = len(manifest) - len(failed)
    _say(f"grad300: {done} of {len(manifest)} files in {target}")
    result = Result(manifest, kind="table")
    if failed:
        result.error = (f"{len(failed)} of {len(manifest)} downloads failed; first: scan "
                        f"{failed[0]['scan_type']} {failed[0]['id']}: {failed[0]['error']}")
    return result


# -- Glance ------------------------------------------------------------------------------------------------

GLANCE_SEARCH = {"analyses": "query_analyses", "papers": "query_papers", "confnotes": "query_confnotes",
                 "pubnotes": "query_pubnotes", "plots": "query_plots", "publications": "query_publications",
                 "leadinggroups": "query_leading_groups", "subgroups": "query_subgroups",
                 "triggers": "query_triggers"}
GLANCE_RECORD = {"analysis": "analyses", "paper": "papers", "confnote": "confnotes", "pubnote": "pubnotes",
                 "plot": "plots", "publication": "publications", "leadinggroup": "leadinggroups",
                 "subgroup": "subgroups", "trigger": "triggers"}
GLANCE_GET = ("analysis", "paper", "confnote", "pubnote", "plot", "publication")
GLANCE_OPEN = ("analysis", "paper", "confnote", "pubnote", "plot")
#: Columns of the plain-table output (as stare shows them), when --columns does not say.
GLANCE_COLUMNS = {
    "confnotes": ["temporaryReferenceCode", "finalReferenceCode", "status", "shortTitle", "web_url"],
    "pubnotes": ["temporaryReferenceCode", "finalReferenceCode", "status", "shortTitle", "web_url"],
    "publications": ["referenceCode", "type", "status", "shortTitle"],
    "leadinggroups": ["name"],
    "subgroups": ["name"],
    "triggers": ["name", "year", "category.name"],
}
_GLANCE_DEFAULT_COLUMNS = ["referenceCode", "status", "shortTitle", "web_url"]


def _kind(names: dict | tuple, what: str) -> Callable[[str], str]:
    """An argparse type: a record kind, singular or plural, any case, with or without dashes."""
    def convert(text: str) -> str:
        key = text.lower().replace("-", "").replace("_", "")
        if isinstance(names, dict):
            key = GLANCE_RECORD.get(key, key)
            ok = key in names
        else:
            key = {v: k for k, v in GLANCE_RECORD.items()}.get(key, key)
            ok = key in names
        if not ok:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose from {', '.join(names)}")
        return key
    convert.__name__ = what
    return convert


def cmd_glance_search(client, args) -> Result:
    query = args.query_option if args.query_option is not None else args.query
    method = getattr(client, GLANCE_SEARCH[args.kind])
    table = method(query, sort_by=args.sort_by, sort_desc=args.sort_desc, row_limit=args.limit,
                   cache=False if args.no_cache else None)
    if args.columns:
        wanted = table.colnames if args.columns == "all" else [c.strip() for c in args.columns.split(",")]
        unknown = [c for c in wanted if c not in table.colnames]
        if unknown:
            raise ValueError(f"--columns: no column {', '.join(map(repr, unknown))}; the columns are "
                             f"{', '.join(table.colnames)}")
        return Result(table[wanted], kind="table")
    full = table[[c for c in table.colnames if c != "record"]]
    return Result(full, kind="table", columns=GLANCE_COLUMNS.get(args.kind, _GLANCE_DEFAULT_COLUMNS))


def cmd_glance_get(client, args) -> Result:
    return Result(getattr(client, f"get_{args.kind}")(args.ref, cache=False if args.no_cache else None),
                  kind="json")


def cmd_glance_open(client, args) -> Result:
    url = getattr(client, f"{args.kind}_url")(args.ref)
    if args.browser:
        import webbrowser
        if not webbrowser.open(url):
            _say("no browser could be opened; the address is on standard output")
    return Result(url, kind="text")


# -- Tupli ---------------------------------------------------------------------------------------------------

def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def _tupli_filter(args, *, benchmark_key: str | None = None):
    from astroquery_ext.tupli import Filter

    parts = []
    if getattr(args, "filter", None):
        given = _json_arg(args.filter, "--filter")
        if not isinstance(given, dict):
            raise ValueError("--filter must be a JSON object")
        parts.append(given)
    for item in getattr(args, "where", None) or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--where takes KEY=VALUE; got {item!r}")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        parts.append(Filter(key) == parsed)
    if benchmark_key and getattr(args, "benchmark_id", None):
        parts.append(Filter(benchmark_key) == args.benchmark_id)
    if not parts:
        return None
    parts = [Filter.from_dict(p) if isinstance(p, dict) else p for p in parts]
    return parts[0] if len(parts) == 1 else Filter.all(*parts)


def _metadata(args, keys) -> dict:
    meta = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "extra", None):
        extra = _json_arg(args.extra, "--extra")
        if not isinstance(extra, dict):
            raise ValueError("--extra must be a JSON object")
        meta["extra"] = extra
    return meta


def cmd_tupli(client, args) -> Result:
    what, action = args.group_name, args.action
    if what == "benchmarks":
        if action == "list":
            return Result(client.list_benchmarks(_tupli_filter(args)), kind="table")
        if action == "show":
            return Result(client.load_benchmark(args.id), kind="json")
        if action == "store":
            source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
            with source if source is not sys.stdin else contextlib.nullcontext(source):
                serialized = source.read()
            return Result(client.store_benchmark(serialized, _metadata(
                args, ("name", "description", "difficulty", "version"))), kind="json")
    elif what == "artifacts":
        if action == "list":
            return Result(client.list_artifacts(_tupli_filter(args)), kind="table")
        if action == "upload":
            path = Path(args.file)
            if not path.is_file():
                raise ValueError(f"no file {args.file!r}")
            return Result(client.store_artifact(path, _metadata(args, ("name", "description", "benchmark_id"))),
                          kind="json")
        if action == "download":
            target = args.output_path
            path = client.load_artifact(args.id, target, overwrite=args.overwrite)
            _say(f"tupli: artifact {args.id} saved")
            return Result(str(path), kind="text")
    elif what == "episodes":
        if action == "list":
            return Result(client.list_episodes(_tupli_filter(args, benchmark_key="benchmark_id")), kind="table")
        if action == "tuples":
            if args.episode:
                return Result(client.get_episode(args.episode), kind="table")
            return Result(client.get_tuples(_tupli_filter(args, benchmark_key="benchmark_id")), kind="table")
    elif what == "groups":
        if action == "list":
            return Result(client.list_groups(), kind="table")
        if action == "show":
            return Result(client.read_group(args.name), kind="json")
        if action == "create":
            return Result(client.create_group(args.name, args.description), kind="json")
        if action == "add":
            members: dict[str, list[str]] = {}
            for item in args.members:
                user, _, roles = item.partition(":")
                members[user] = [r for r in roles.split(",") if r] or ["member"]
            return Result(client.add_group_members(args.name, members), kind="json")
        if action == "remove":
            return Result(client.remove_group_members(args.name, args.users), kind="json")
        if action == "delete":
            client.delete_group(args.name)
            _say(f"tupli: group {args.name} deleted")
            return Result()
    if action == "delete":
        getattr(client, f"delete_{what[:-1]}")(args.id)
        _say(f"tupli: {what[:-1]} {args.id} deleted")
        return Result()
    if action == "publish":
        getattr(client, f"publish_{what[:-1]}")(args.id, args.group)
        _say(f"tupli: {what[:-1]} {args.id} published to {args.group}")
        return Result()
    if action == "unpublish":
        getattr(client, f"unpublish_{what[:-1]}")(args.id, args.group)
        _say(f"tupli: {what[:-1]} {args.id} withdrawn from {args.group}")
        return Result()
    raise UsageError(f"unknown command {what} {action}")  # pragma: no cover - argparse prevents it


def cmd_tupli_signup(client, args) -> Result:
    return Result(client.signup(args.username), kind="json")


# -- cache, sandbox, demo --------------------------------------------------------------------------------

def _cache_stats(root: Path) -> tuple[int, int, int]:
    entries = files = size = 0
    if root.is_dir():
        for path in root.rglob("*"):
            if not path.is_file() or path.name.startswith(".tmp-"):
                continue
            size += path.stat().st_size
            if path.suffix == ".entry":
                entries += 1
            else:
                files += 1
    return entries, files, size


def _cache_clients(args):
    for service in args.services or SERVICES:
        yield service, make_client(service, argparse.Namespace())


def cmd_cache_info(args) -> Result:
    from astropy.table import Table

    rows = []
    for service, client in _cache_clients(args):
        root = Path(client.cache_location)
        entries, files, size = _cache_stats(root)
        rows.append({"service": service, "location": str(root), "entries": entries, "files": files,
                     "bytes": size})
    table = Table(rows=rows, names=["service", "location", "entries", "files", "bytes"])
    table["bytes"].unit = "byte"
    table["entries"].description = "cached answers"
    table["files"].description = "cached downloads"
    return Result(table, kind="table")


def cmd_cache_clear(args) -> Result:
    for service, client in _cache_clients(args):
        entries, files, size = _cache_stats(Path(client.cache_location))
        client.clear_cache()
        _say(f"cache cleared: {service} ({entries} answers, {files} files, {size / 2**20:.1f} MiB)")
    return Result()


def cmd_sandbox(args, extra: list[str]) -> Result:
    import importlib.util

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise RuntimeError('the sandbox needs the "sandbox" extra: pip install "astroquery-ext[sandbox]"')
    from astroquery_ext.sandbox.__main__ import main as sandbox_main

    with contextlib.redirect_stdout(args._stdout):  # the sandbox's own report is its output
        code = sandbox_main(extra)
    return Result(code, kind="exit")


def cmd_demo(args, extra: list[str]) -> Result:
    from astroquery_ext.demo import main as demo_main

    with contextlib.redirect_stdout(args._stdout):
        code = demo_main(extra)
    return Result(code, kind="exit")


# -- the parser ---------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with a clear one-line usage error (exit status 2)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _common(service: str) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--server", metavar="URL", help=f"API root URL (default: astroquery_ext.{service}.conf.server)")
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="seconds to wait for the server")
    if service == "glance":
        group.add_argument("--issuer", metavar="URL",
                           help="OpenID Connect issuer to log in with, read from its discovery document "
                                "(default: the conf endpoints, CERN's login service)")
        group.add_argument("--web-url", metavar="URL", help="root of the Glance web pages (default: conf.web_base_url)")
    group.add_argument("-v", "--verbose", action="store_true", help="log each request (URL, status, time) on stderr")
    group.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return common


def _table_options() -> argparse.ArgumentParser:
    opts = argparse.ArgumentParser(add_help=False)
    group = opts.add_argument_group("output")
    group.add_argument("--format", choices=FORMATS,
                       help="output format (default: from the --output extension, else table)")
    group.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    return opts


def _json_options() -> argparse.ArgumentParser:
    opts = argparse.ArgumentParser(add_help=False)
    opts.add_argument("-o", "--output", metavar="FILE", help="write the JSON to FILE instead of standard output")
    return opts


def _add_account_commands(sub, service: str, parents) -> None:
    login = sub.add_parser("login", parents=parents, help="log in and keep the login for later commands",
                           description=f"Log in to {service}. Passwords come from "
                                       f"ASTROQUERY_EXT_{service.upper()}_PASSWORD, the keyring, or a prompt on "
                                       f"a terminal, never from the command line.")
    if service == "atlas":
        login.add_argument("--token", help="the 40-character API token; '-' reads it from standard input "
                                           "(ASTROQUERY_EXT_ATLAS_TOKEN is safer than the command line)")
        login.add_argument("--username", help="log in with this user's password (exchanged for a token)")
    elif service in ("grad300", "tupli"):
        login.add_argument("--username", help="the account (grad300: its e-mail address)")
        login.add_argument("--store-password", action="store_true",
                           help="also keep the password in the keyring (to log in again when the token expires)")
    else:
        how = login.add_mutually_exclusive_group()
        how.add_argument("--device", action="store_true", help="device flow: a code to enter on any device")
        how.add_argument("--manual", action="store_true",
                         help="print the login URL and read back the address the browser ends on")
        login.add_argument("--no-browser", action="store_true",
                           help="print the login URL instead of opening a browser (this machine's loopback "
                                "must still be reachable from the browser)")
        login.add_argument("--offline", action="store_true",
                           help="ask for an offline session (for unattended jobs)")
        login.add_argument("--port", type=int, help="loopback port of the login redirect (0: any free port)")
        login.add_argument("--force", action="store_true", help="log in afresh, ignoring a stored session")
    login.add_argument("--no-store", action="store_true", help="do not keep the login for later commands")
    login.set_defaults(handler=cmd_login, pass_service=True)
    logout = sub.add_parser("logout", parents=parents, help="log out and remove the stored login")
    logout.set_defaults(handler=cmd_logout, pass_service=True)
    whoami = sub.add_parser("whoami", parents=parents, help="the user logged in (stored login)")
    whoami.set_defaults(handler=cmd_whoami, pass_service=True)


def _add_atlas(services) -> None:
    parser = services.add_parser("atlas", help="ATLAS Transient Server", description="ATLAS Transient Server.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, table = _common("atlas"), _table_options()
    _add_account_commands(sub, "atlas", [common])

    cone = sub.add_parser("cone", parents=[common, table], help="objects within a radius of a position",
                          description="Cone search. RA and Dec in degrees, or sexagesimal (RA in hours); "
                                      "put '--' before a negative sexagesimal Dec.")
    cone.add_argument("ra")
    cone.add_argument("dec")
    cone.add_argument("radius", help="arcseconds, or an angle such as 1arcmin (at most 300 arcsec)")
    cone.add_argument("--type", choices=("all", "nearest", "count"), default="all")
    cone.add_argument("--no-cache", action="store_true", help="ask the server even if the answer is cached")
    cone.set_defaults(handler=cmd_atlas_cone)

    def ids_options(p):
        p.add_argument("ids", nargs="*", metavar="ID", help="ATLAS ids (19 digits)")
        p.add_argument("--ids-file", metavar="FILE", help="read ids from FILE (one or more per line; '-': stdin)")
        p.add_argument("--no-cache", action="store_true", help="fetch again even if cached")

    lcs = sub.add_parser("lightcurves", parents=[common, table], help="light curves of many objects, one table",
                         description="Detections and non-detection limits of any number of objects in one "
                                     "table (--forced: forced photometry instead).")
    ids_options(lcs)
    lcs.add_argument("--mjd-min", type=float, metavar="MJD", help="only rows from this MJD on")
    lcs.add_argument("--forced", action="store_true", help="forced photometry (uJy) instead of magnitudes")
    lcs.set_defaults(handler=cmd_atlas_lightcurves)

    objects = sub.add_parser("objects", parents=[common, table], help="the object rows of many ids")
    ids_options(objects)
    objects.set_defaults(handler=cmd_atlas_objects)

    lists = sub.add_parser("list", parents=[common, table], help="members of a main or custom list",
                           description="Members of a main list (good, eyeball, ...) or, with --custom, "
                                       "of a custom list (vra, cv, ...).")
    lists.add_argument("name", help="list name or number")
    lists.add_argument("--custom", action="store_true", help="a custom list")
    lists.add_argument("--since", help="only objects that changed since this date")
    lists.add_argument("--vra-min", type=float)
    lists.add_argument("--vra-max", type=float)
    lists.set_defaults(handler=cmd_atlas_list)


def _add_grad300(services) -> None:
    parser = services.add_parser("grad300", help="GRAD300 radio telescope archive",
                                 description="GRAD300 radio-telescope archive.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, table = _common("grad300"), _table_options()
    _add_account_commands(sub, "grad300", [common])

    def filters(p):
        p.add_argument("--type", choices=("TPI", "Images", "Spectrum", "OnOff"), help="one scan type (default all)")
        p.add_argument("--source", help="target name, case-insensitive substring")
        p.add_argument("--scan-name", help="file name, case-insensitive substring")
        p.add_argument("--from", dest="date_from", metavar="DATE", help="scans starting on or after (ISO, UTC)")
        p.add_argument("--to", dest="date_to", metavar="DATE", help="scans starting on or before (ISO, UTC)")
        p.add_argument("--limit", type=int, metavar="N", help="at most N scans per scan type")

    query = sub.add_parser("query", parents=[common, table], help="scans that match, as a table")
    filters(query)
    query.add_argument("--no-cache", action="store_true", help="ask the server even if the listing is cached")
    query.set_defaults(handler=cmd_grad300_query)

    download = sub.add_parser("download", parents=[common],
                              help="download FITS files (by id, or the scans a query finds)",
                              description="Download the FITS files of scans to a directory and print a table "
                                          "of what happened (--format for it).")
    filters(download)
    download.add_argument("--id", type=int, nargs="+", metavar="ID", help="scan ids (with --type)")
    download.add_argument("--all", action="store_true", help="every scan that the filters allow (none: all)")
    download.add_argument("-o", "--output-dir", default=".", metavar="DIR", help="target directory (default .)")
    download.add_argument("--overwrite", action="store_true", help="download again files already there")
    download.add_argument("--workers", type=int, default=4, metavar="N", help="files in flight at once")
    download.add_argument("--format", choices=FORMATS, help="format of the table printed")
    download.set_defaults(handler=cmd_grad300_download)


def _add_glance(services) -> None:
    parser = services.add_parser("glance", help="CERN ATLAS Glance", description="CERN ATLAS Glance.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, table, js = _common("glance"), _table_options(), _json_options()
    _add_account_commands(sub, "glance", [common])

    search = sub.add_parser("search", parents=[common, table], help="search one kind of record",
                            description="All the records of one kind that match a query in Glance's query "
                                        "language. The plain table shows a few columns (--columns to choose, "
                                        "--columns all for every one); other formats have every column.")
    search.add_argument("kind", type=_kind(GLANCE_SEARCH, "record kind"), metavar="KIND",
                        help=f"one of {', '.join(GLANCE_SEARCH)}")
    search.add_argument("query", nargs="?", help="e.g. 'status = \"Phase 0 Active\"' (default: everything)")
    search.add_argument("-q", "--query", dest="query_option", metavar="QUERY", help="the query, as an option")
    search.add_argument("--sort-by", metavar="FIELD")
    search.add_argument("--sort-desc", action="store_true")
    search.add_argument("-n", "--limit", type=int, metavar="N", help="at most N records")
    search.add_argument("--columns", metavar="A,B,...", help="columns to output ('all': every one)")
    search.add_argument("--no-cache", action="store_true")
    search.set_defaults(handler=cmd_glance_search)

    get = sub.add_parser("get", parents=[common, js], help="one whole record, as JSON")
    get.add_argument("kind", type=_kind(GLANCE_GET, "record kind"), metavar="KIND", help=", ".join(GLANCE_GET))
    get.add_argument("ref", metavar="REF", help="reference code (CONF/PUB notes: temporary or final)")
    get.add_argument("--no-cache", action="store_true")
    get.set_defaults(handler=cmd_glance_get)

    open_ = sub.add_parser("open", parents=[common], help="the address of a record's web page")
    open_.add_argument("kind", type=_kind(GLANCE_OPEN, "record kind"), metavar="KIND", help=", ".join(GLANCE_OPEN))
    open_.add_argument("ref", metavar="REF")
    open_.add_argument("--browser", action="store_true", help="also open it in a web browser")
    open_.set_defaults(handler=cmd_glance_open)


def _add_tupli(services) -> None:
    parser = services.add_parser("tupli", help="Tupli offline-RL store", description="Tupli offline-RL store.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common, table, js = _common("tupli"), _table_options(), _json_options()
    _add_account_commands(sub, "tupli", [common])
    signup = sub.add_parser("signup", parents=[common, js], help="create an account (password from the chain)")
    signup.add_argument("username")
    signup.set_defaults(handler=cmd_tupli_signup)

    def filters(p, benchmark: bool = False):
        p.add_argument("--where", action="append", metavar="KEY=VALUE",
                       help="keep items whose KEY (a dotted path such as metadata.name) equals VALUE "
                            "(JSON or text); repeat to combine with AND")
        p.add_argument("--filter", metavar="JSON", help="a filter as the server takes it, e.g. "
                                                        "'{\"type\": \"EQ\", \"key\": \"hash\", \"value\": \"...\"}'")
        if benchmark:
            p.add_argument("--benchmark-id", metavar="ID", help="only this benchmark's episodes")

    def item_actions(kind_sub, kind: str):
        delete = kind_sub.add_parser("delete", parents=[common], help=f"delete a {kind}")
        delete.add_argument("id")
        publish = kind_sub.add_parser("publish", parents=[common], help=f"let a group read a {kind}")
        publish.add_argument("id")
        publish.add_argument("--group", default="global", help="default: global (everyone)")
        unpublish = kind_sub.add_parser("unpublish", parents=[common], help=f"take a {kind} back from a group")
        unpublish.add_argument("id")
        unpublish.add_argument("--group", required=True)

    bench = sub.add_parser("benchmarks", help="benchmarks").add_subparsers(dest="action", metavar="ACTION",
                                                                           required=True)
    filters(bench.add_parser("list", parents=[common, table], help="benchmarks you can see"))
    bench.add_parser("show", parents=[common, js], help="one benchmark, serialized environment included"
                     ).add_argument("id")
    store = bench.add_parser("store", parents=[common, js], help="store a serialized environment")
    store.add_argument("file", help="the serialized environment (text); '-': standard input")
    store.add_argument("--name", required=True)
    store.add_argument("--description")
    store.add_argument("--difficulty")
    store.add_argument("--version")
    store.add_argument("--extra", metavar="JSON", help="extra metadata, a JSON object")
    item_actions(bench, "benchmark")

    arts = sub.add_parser("artifacts", help="artifacts (files)").add_subparsers(dest="action", metavar="ACTION",
                                                                               required=True)
    filters(arts.add_parser("list", parents=[common, table], help="artifacts you can see"))
    upload = arts.add_parser("upload", parents=[common, js], help="upload a file (streamed)")
    upload.add_argument("file")
    upload.add_argument("--name", help="default: the file's name")
    upload.add_argument("--description")
    upload.add_argument("--benchmark-id")
    upload.add_argument("--extra", metavar="JSON", help="extra metadata, a JSON object")
    download = arts.add_parser("download", parents=[common], help="download an artifact to a file or directory")
    download.add_argument("id")
    download.add_argument("-o", "--output", dest="output_path", required=True, metavar="PATH",
                          help="a file, or an existing directory (the artifact's name is used)")
    download.add_argument("--overwrite", action="store_true")
    item_actions(arts, "artifact")

    eps = sub.add_parser("episodes", help="episodes").add_subparsers(dest="action", metavar="ACTION", required=True)
    filters(eps.add_parser("list", parents=[common, table], help="episodes you can see, one row each"),
            benchmark=True)
    tuples = eps.add_parser("tuples", parents=[common, table], help="the steps of episodes, one row each")
    tuples.add_argument("--episode", metavar="ID", help="one episode")
    filters(tuples, benchmark=True)
    item_actions(eps, "episode")

    groups = sub.add_parser("groups", help="groups").add_subparsers(dest="action", metavar="ACTION", required=True)
    groups.add_parser("list", parents=[common, table], help="groups on the server")
    groups.add_parser("show", parents=[common, js], help="one group and its members").add_argument("name")
    create = groups.add_parser("create", parents=[common, js], help="create a group")
    create.add_argument("name")
    create.add_argument("--description")
    add = groups.add_parser("add", parents=[common, js], help="add members: USER or USER:ROLE[,ROLE]")
    add.add_argument("name")
    add.add_argument("members", nargs="+", metavar="USER[:ROLES]")
    remove = groups.add_parser("remove", parents=[common, js], help="remove members")
    remove.add_argument("name")
    remove.add_argument("users", nargs="+", metavar="USER")
    groups.add_parser("delete", parents=[common], help="delete a group").add_argument("name")
    for kind, kind_sub in (("benchmarks", bench), ("artifacts", arts), ("episodes", eps), ("groups", groups)):
        for choice in kind_sub.choices.values():
            choice.set_defaults(handler=cmd_tupli, group_name=kind)


def _service(text: str) -> str:
    if text not in SERVICES:
        raise argparse.ArgumentTypeError(f"unknown service {text!r}; choose from {', '.join(SERVICES)}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="astroquery-style clients for ATLAS, GRAD300, CERN ATLAS Glance "
                                            "and Tupli, from the command line.",
                     epilog=f"'{PROG} SERVICE COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    services = parser.add_subparsers(dest="service", metavar="COMMAND", required=True,
                                     parser_class=_Parser)
    _add_atlas(services)
    _add_grad300(services)
    _add_glance(services)
    _add_tupli(services)

    cache = services.add_parser("cache", help="the response cache: info, clear")
    cache_sub = cache.add_subparsers(dest="command", metavar="ACTION", required=True)
    info = cache_sub.add_parser("info", parents=[_table_options()], help="where, how many entries, how big")
    info.add_argument("services", nargs="*", type=_service, metavar="SERVICE", help="default: all four")
    info.set_defaults(handler=cmd_cache_info, standalone=True)
    clear = cache_sub.add_parser("clear", help="remove cached answers and files")
    clear.add_argument("services", nargs="*", type=_service, metavar="SERVICE", help="default: all four")
    clear.set_defaults(handler=cmd_cache_clear, standalone=True)

    sandbox = services.add_parser("sandbox", add_help=False, help="run the local sandbox servers "
                                  "(python -m astroquery_ext.sandbox; '--help' for its options)")
    sandbox.set_defaults(handler=cmd_sandbox, passthrough=True)
    demo = services.add_parser("demo", add_help=False, help="the demo tour against the sandbox "
                               "(python -m astroquery_ext.demo; '--help' for its options)")
    demo.set_defaults(handler=cmd_demo, passthrough=True)
    return parser


# -- running a command ---------------------------------------------------------------------------------------

def _run(args, extra: list[str], stdout) -> Result:
    if getattr(args, "passthrough", False):
        args._stdout = stdout
        return args.handler(args, extra)
    if getattr(args, "standalone", False):
        return args.handler(args)
    service = args.service
    client = make_client(service, args)
    with _default_username(service, client):
        if service == "tupli" and args.handler is not cmd_login and args.handler is not cmd_logout:
            _resume(client)  # reads are anonymous unless a stored login is used
        if getattr(args, "pass_service", False):
            return args.handler(service, client, args)
        return args.handler(client, args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    debug = getattr(args, "debug", False)
    if getattr(args, "output", None) and getattr(args, "format", None) is None and hasattr(args, "format"):
        try:
            _format_for(args.output, None)
        except UsageError as exc:
            parser.error(str(exc))
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
        log = logging.getLogger("astroquery_ext")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    stdout = sys.stdout
    # astropy's and astroquery's loggers capture warnings when first imported: import them
    # before ours is installed, so that warnings come out as one line of ours.
    import astropy.logger  # noqa: F401
    import astroquery  # noqa: F401
    saved_showwarning = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        # Everything the modules print (prompts, progress) goes to stderr; stdout is the result only.
        with contextlib.redirect_stdout(sys.stderr):
            result = _run(args, extra, stdout)
        if result is not None and result.kind == "exit":
            return int(result.value or 0)
        emit(result, args, stdout)
        if result is not None and getattr(result, "error", None):
            _say(f"error: {result.error}")
            return 1
        return 0
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except UsageError as exc:
        _say(f"error: {_one_line(exc)}")
        return 2
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 0
    except Exception as exc:
        if debug:
            import traceback
            traceback.print_exc(file=sys.stderr)
        from astroquery.exceptions import LoginError as AqLoginError

        from astroquery_ext.exceptions import AstroqueryExtError

        expected = (AstroqueryExtError, AqLoginError, ValueError, TypeError, LookupError, OSError, RuntimeError)
        if isinstance(exc, expected):
            _say(f"error: {_one_line(exc)}")
        else:
            _say(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (--debug shows the traceback)")
        return 1
    finally:
        warnings.showwarning = saved_showwarning


if __name__ == "__main__":  # pragma: no cover - python -m astroquery_ext.cli
    sys.exit(main())

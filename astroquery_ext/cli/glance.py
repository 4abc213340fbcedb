"""``astroquery-ext glance ...``: CERN ATLAS Glance (`astroquery_ext.glance`).

The record kinds, their searches, records and web pages are read from the
module (its ``ENDPOINTS`` and the methods of `~astroquery_ext.glance.GlanceClass`).
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable

from astroquery_ext.cli.output import PROG, Result, json_options, say, table_options
from astroquery_ext.cli.service import ServiceCLI, no_cache

#: Columns of the plain-table output (as stare shows them), when --columns does not say.
PLAIN_COLUMNS = {
    "confnotes": ["temporaryReferenceCode", "finalReferenceCode", "status", "shortTitle", "web_url"],
    "pubnotes": ["temporaryReferenceCode", "finalReferenceCode", "status", "shortTitle", "web_url"],
    "publications": ["referenceCode", "type", "status", "shortTitle"],
    "leadinggroups": ["name"],
    "subgroups": ["name"],
    "triggers": ["name", "year", "category.name"],
}
_PLAIN_DEFAULT = ["referenceCode", "status", "shortTitle", "web_url"]
#: The settings of a login service, read from its discovery document and kept with a login.
OIDC_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "jwks_uri",
             "device_authorization_endpoint")


def _key(text: str) -> str:
    return text.lower().replace("-", "").replace("_", "").replace(" ", "")


@functools.lru_cache(maxsize=None)
def kinds() -> dict[str, dict]:
    """Each record kind of the module: ``{plural: {"mode", "search", "get", "url"}}`` (methods or None)."""
    from astroquery_ext.glance import GlanceClass
    from astroquery_ext.glance.core import ENDPOINTS

    searches = {_key(name[len("query_"):]): name for name in dir(GlanceClass) if name.startswith("query_")}
    out = {}
    for mode, (_endpoint, noun) in ENDPOINTS.items():
        plural = _key(noun)
        out[plural] = {"mode": mode, "search": searches.get(plural),
                       "get": f"get_{mode}" if hasattr(GlanceClass, f"get_{mode}") else None,
                       "url": f"{mode}_url" if hasattr(GlanceClass, f"{mode}_url") else None}
    return out


def kind_arg(what: str, has: str) -> Callable[[str], str]:
    """An argparse type: a record kind that has ``has`` (search, get, url), singular or plural, any case."""
    def convert(text: str) -> str:
        key = _key(text)
        table = kinds()
        for plural, entry in table.items():
            if key in (plural, entry["mode"]) and entry[has]:
                return plural
        names = [p if has == "search" else e["mode"] for p, e in table.items() if e[has]]
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose from {', '.join(names)}")
    convert.__name__ = what
    return convert


def cmd_search(client, args) -> Result:
    query = args.query_option if args.query_option is not None else args.query
    method = getattr(client, kinds()[args.kind]["search"])
    table = method(query, sort_by=args.sort_by, sort_desc=args.sort_desc, row_limit=args.limit,
                   cache=no_cache(args))
    return Result(table, kind="table", columns=PLAIN_COLUMNS.get(args.kind, _PLAIN_DEFAULT), hidden=["record"])


def cmd_get(client, args) -> Result:
    table = getattr(client, kinds()[args.kind]["get"])(args.ref, cache=no_cache(args))
    return Result(table["record"][0], kind="json")  # get_* give a one-row Table; the whole record is "record"


def cmd_open(client, args) -> Result:
    url = getattr(client, kinds()[args.kind]["url"])(args.ref)
    if args.browser:
        import webbrowser
        if not webbrowser.open(url):
            say("no browser could be opened; the address is on standard output")
    return Result(url, kind="text")


class GlanceCLI(ServiceCLI):
    name = "glance"
    title = "CERN ATLAS Glance"
    client_class = "GlanceClass"
    passwords = False
    resume_before_logout = False  # logout(forget=True) finds and revokes the stored session itself
    login_alternatives = ("or 'astroquery-ext glance login --device' on a machine without a browser, "
                          "or set ASTROQUERY_EXT_GLANCE_TOKEN")
    login_flags = {"method='device'": "--device", "method='manual'": "--manual", "force=True": "--force",
                   "offline=True": "--offline"}

    def add_connection_options(self, group) -> None:
        group.add_argument("--issuer", metavar="URL",
                           help="OpenID Connect issuer to log in with, read from its discovery document "
                                "(default: the one of the last login on this server, else the conf "
                                "endpoints, CERN's login service)")
        group.add_argument("--web-url", metavar="URL", help="root of the Glance web pages (default: conf.web_base_url)")

    def client_settings(self, args, kept: dict) -> dict:
        # The issuer named, else the one of the stored login on this server; the client reads
        # its endpoints from its discovery document (entries of older versions may hold them).
        settings: dict = ({"issuer": args.issuer} if getattr(args, "issuer", None) else
                          {k: v for k, v in kept.items() if k in OIDC_KEYS})
        args.oidc = dict(settings)
        if getattr(args, "web_url", None):
            settings["web_base_url"] = args.web_url
        return settings

    def kept_after_login(self, client, args) -> dict:
        return dict(getattr(args, "oidc", {}))

    def not_logged_in(self, server: str, args) -> str:
        where = "".join(f" --{name.replace('_', '-')} {getattr(args, name)}" for name in ("server", "issuer")
                        if getattr(args, name, None))
        return (f"not logged in to glance at {server}: run '{PROG} glance login{where}', "
                f"{self.login_alternatives}")

    def add_login_options(self, login) -> None:
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

    def login(self, client, args) -> None:
        method = "device" if args.device else "manual" if args.manual else "browser"
        opener = None
        if method == "browser":
            def opener(url: str) -> None:
                say(f"log in at this address (it opens in your browser unless --no-browser):\n{url}")
                if not args.no_browser:
                    import webbrowser
                    webbrowser.open(url)

        def show(start: dict) -> None:
            where = start.get("verification_uri_complete") or start.get("verification_uri")
            say(f"to log in, open {where} and enter the code {start.get('user_code')}")

        def ask(prompt: str) -> str:
            print(prompt, end="", file=sys.stderr, flush=True)
            return sys.stdin.readline()

        client.login(method=method, offline=args.offline, port=args.port, open_browser=opener,
                     force=args.force, show=show, ask=ask, **self.login_keywords(args))

    def add_commands(self, sub, common) -> None:
        table, js = table_options(), json_options()
        search_kinds = [p for p, e in kinds().items() if e["search"]]
        get_kinds = [e["mode"] for e in kinds().values() if e["get"]]
        open_kinds = [e["mode"] for e in kinds().values() if e["url"]]
        search = sub.add_parser("search", parents=[common, table], help="search one kind of record",
                                description="All the records of one kind that match a query in Glance's query "
                                            "language. The plain table shows a few columns (--columns to choose, "
                                            "--columns all for every one); other formats have every column "
                                            "but the whole record.")
        search.add_argument("kind", type=kind_arg("record kind", "search"), metavar="KIND",
                            help=f"one of {', '.join(search_kinds)}")
        search.add_argument("query", nargs="?", help="e.g. 'status = \"Phase 0 Active\"' (default: everything)")
        search.add_argument("-q", "--query", dest="query_option", metavar="QUERY", help="the query, as an option")
        search.add_argument("--sort-by", metavar="FIELD")
        search.add_argument("--sort-desc", action="store_true")
        search.add_argument("-n", "--limit", type=int, metavar="N", help="at most N records")
        search.add_argument("--no-cache", action="store_true")
        search.set_defaults(handler=cmd_search)

        get = sub.add_parser("get", parents=[common, js], help="one whole record, as JSON")
        get.add_argument("kind", type=kind_arg("record kind", "get"), metavar="KIND", help=", ".join(get_kinds))
        get.add_argument("ref", metavar="REF", help="reference code (CONF/PUB notes: temporary or final)")
        get.add_argument("--no-cache", action="store_true")
        get.set_defaults(handler=cmd_get)

        open_ = sub.add_parser("open", parents=[common], help="the address of a record's web page")
        open_.add_argument("kind", type=kind_arg("record kind", "url"), metavar="KIND", help=", ".join(open_kinds))
        open_.add_argument("ref", metavar="REF")
        open_.add_argument("--browser", action="store_true", help="also open it in a web browser")
        open_.set_defaults(handler=cmd_open)


CLI = GlanceCLI()

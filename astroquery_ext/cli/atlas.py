"""``astroquery-ext atlas ...``: the ATLAS Transient Server (`astroquery_ext.atlas`)."""

from __future__ import annotations

import contextlib
import sys

from astroquery_ext.cli.output import Result, UsageError, table_options
from astroquery_ext.cli.service import ServiceCLI, negative_positionals, no_cache, show_progress


def radius_arg(text: str):
    """A radius: arcseconds when bare, else any angle astropy reads (``1arcmin``, ``0.01 deg``)."""
    import astropy.units as u

    try:
        return float(text) * u.arcsec
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


def cmd_cone(client, args) -> Result:
    table = client.query_region(f"{args.ra} {args.dec}", radius_arg(args.radius), request_type=args.type,
                                cache=no_cache(args))
    return Result(table, kind="table")


def cmd_lightcurves(client, args) -> Result:
    get = client.get_forced_photometry if args.forced else client.get_lightcurves
    return Result(get(_ids(args), mjd_min=args.mjd_min, cache=no_cache(args), show_progress=show_progress()),
                  kind="table")


def cmd_objects(client, args) -> Result:
    return Result(client.query_objects(_ids(args), cache=no_cache(args), show_progress=show_progress()),
                  kind="table")


def cmd_list(client, args) -> Result:
    name = int(args.name) if args.name.isdigit() else args.name
    if args.custom:
        return Result(client.query_custom_lists(name), kind="table")
    return Result(client.query_list(name, since=args.since, vra_min=args.vra_min, vra_max=args.vra_max),
                  kind="table")


class AtlasCLI(ServiceCLI):
    name = "atlas"
    title = "ATLAS Transient Server"
    client_class = "AtlasClass"
    login_usage = "--username NAME"
    login_alternatives = ("or 'astroquery-ext atlas login --token -' with the API token on standard input, "
                          "or set ASTROQUERY_EXT_ATLAS_TOKEN")
    login_flags = {"token": "--token -", "username": "--username NAME", "store_password=True": "--store-password",
                   "reenter_password=True": "--reenter-password"}

    def add_login_options(self, login) -> None:
        login.add_argument("--token", help="the 40-character API token; '-' reads it from standard input "
                                           "(ASTROQUERY_EXT_ATLAS_TOKEN is safer than the command line)")
        login.add_argument("--username", help="log in with this user's password (exchanged for a token)")

    def login(self, client, args) -> None:
        token = args.token
        if token == "-":
            token = sys.stdin.readline().strip()
        client.login(args.username, token=token, **self.login_keywords(args))

    def add_commands(self, sub, common) -> None:
        table = table_options()
        cone = negative_positionals(sub.add_parser(
            "cone", parents=[common, table], help="objects within a radius of a position",
            description="Cone search. RA and Dec in degrees, or sexagesimal (RA in hours): "
                        "04:14:49 -08:30:10, 4h14m49s -8d30m10s."))
        cone.add_argument("ra")
        cone.add_argument("dec")
        cone.add_argument("radius", help="arcseconds, or an angle such as 1arcmin (at most 300 arcsec)")
        cone.add_argument("--type", choices=("all", "nearest", "count"), default="all")
        cone.add_argument("--no-cache", action="store_true", help="ask the server even if the answer is cached")
        cone.set_defaults(handler=cmd_cone)

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
        lcs.set_defaults(handler=cmd_lightcurves)

        objects = sub.add_parser("objects", parents=[common, table], help="the object rows of many ids")
        ids_options(objects)
        objects.set_defaults(handler=cmd_objects)

        lists = sub.add_parser("list", parents=[common, table], help="members of a main or custom list",
                               description="Members of a main list (good, eyeball, ...) or, with --custom, "
                                           "of a custom list (vra, cv, ...).")
        lists.add_argument("name", help="list name or number")
        lists.add_argument("--custom", action="store_true", help="a custom list")
        lists.add_argument("--since", help="only objects that changed since this date")
        lists.add_argument("--vra-min", type=float)
        lists.add_argument("--vra-max", type=float)
        lists.set_defaults(handler=cmd_list)


CLI = AtlasCLI()

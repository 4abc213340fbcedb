"""``astroquery-ext grad300 ...``: the GRAD300 radio-telescope archive (`astroquery_ext.grad300`)."""

from __future__ import annotations

from astroquery_ext.cli.output import Result, UsageError, directory_target, say, table_options
from astroquery_ext.cli.service import ServiceCLI, no_cache, show_progress


def _filters(args) -> dict:
    return {"source": args.source, "scan_name": args.scan_name, "date_from": args.date_from,
            "date_to": args.date_to}


def cmd_query(client, args) -> Result:
    table = client.query(args.type, row_limit=args.limit, cache=no_cache(args), **_filters(args))
    return Result(table, kind="table")


def cmd_download(client, args) -> Result:
    if args.id:
        if not args.type:
            raise UsageError("--id needs --type (scan ids are counted per scan type)")
        if any(v is not None for v in _filters(args).values()):
            raise UsageError("give either --id or query filters (--source, --scan-name, --from, --to), not both")
        rows = [{"id": i, "scan_type": args.type} for i in args.id]
    else:
        if not args.all and args.type is None and all(v is None for v in _filters(args).values()):
            raise UsageError("say what to download: --type and --id, query filters (--type, --source, "
                             "--scan-name, --from, --to), or --all for the whole archive")
        rows = client.query(args.type, row_limit=args.limit, **_filters(args))
        say(f"grad300: {len(rows)} scans match")
    target = directory_target(args.output_dir, "--output-dir")
    manifest = client.download_scans(rows, target, max_workers=args.workers, overwrite=args.overwrite,
                                     show_progress=show_progress(), errors="ignore")
    failed = [r for r in manifest if r["status"] == "error"]
    done = len(manifest) - len(failed)
    say(f"grad300: {done} of {len(manifest)} files in {target}")
    result = Result(manifest, kind="table")
    if failed:
        result.error = (f"{len(failed)} of {len(manifest)} downloads failed; first: scan "
                        f"{failed[0]['scan_type']} {failed[0]['id']}: {failed[0]['error']}")
    return result


class Grad300CLI(ServiceCLI):
    name = "grad300"
    title = "GRAD300 radio telescope archive"
    client_class = "Grad300Class"
    login_usage = "--username EMAIL"
    login_flags = {"username": "--username EMAIL", "store_password=True": "--store-password",
                   "reenter_password=True": "--reenter-password"}

    def add_login_options(self, login) -> None:
        login.add_argument("--username", help="the account's e-mail address")

    def login(self, client, args) -> None:
        client.login(args.username, **self.login_keywords(args))

    def whoami(self, client) -> str | None:
        return client.test_token().get("email") or super().whoami(client)

    def add_commands(self, sub, common) -> None:
        from astroquery_ext.grad300 import SCAN_TYPES

        def filters(p):
            p.add_argument("--type", choices=SCAN_TYPES, help="one scan type (default all)")
            p.add_argument("--source", help="target name, case-insensitive substring")
            p.add_argument("--scan-name", help="file name, case-insensitive substring")
            p.add_argument("--from", dest="date_from", metavar="DATE", help="scans starting on or after (ISO, UTC)")
            p.add_argument("--to", dest="date_to", metavar="DATE", help="scans starting on or before (ISO, UTC)")
            p.add_argument("--limit", type=int, metavar="N", help="at most N scans in all (the total over every scan type, not per type; -1: all)")

        query = sub.add_parser("query", parents=[common, table_options()], help="scans that match, as a table")
        filters(query)
        query.add_argument("--no-cache", action="store_true", help="ask the server even if the listing is cached")
        query.set_defaults(handler=cmd_query)

        download = sub.add_parser("download", parents=[common, table_options(output=False)],
                                  help="download FITS files (by id, or the scans a query finds)",
                                  description="Download the FITS files of scans to a directory and print a table "
                                              "of what happened (--format for it).")
        filters(download)
        download.add_argument("--id", type=int, nargs="+", metavar="ID", help="scan ids (with --type)")
        download.add_argument("--all", action="store_true", help="every scan that the filters allow (none: all)")
        download.add_argument("-o", "--output-dir", default=".", metavar="DIR",
                              help="target directory, created if missing (default .)")
        download.add_argument("--overwrite", action="store_true", help="download again files already there")
        download.add_argument("--workers", type=int, default=4, metavar="N", help="files in flight at once")
        download.set_defaults(handler=cmd_download)


CLI = Grad300CLI()

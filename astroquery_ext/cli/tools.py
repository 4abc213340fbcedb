"""``astroquery-ext cache|sandbox|demo``: the commands that are not one service's."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from astroquery_ext import SERVICES
from astroquery_ext.cli.output import Result, say, table_options


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


def _cache_clients(args, registry):
    for name in args.services or SERVICES:
        yield name, registry(name).make_client(argparse.Namespace())


def cmd_cache_info(args, registry) -> Result:
    from astroquery_ext.results import ResultTable

    rows = []
    for name, client in _cache_clients(args, registry):
        root = Path(client.cache_location)
        entries, files, size = _cache_stats(root)
        rows.append({"service": name, "location": str(root), "entries": entries, "files": files, "bytes": size})
    table = ResultTable(rows=rows, names=["service", "location", "entries", "files", "bytes"])
    table["bytes"].unit = "byte"
    table["entries"].description = "cached answers"
    table["files"].description = "cached downloads"
    return Result(table, kind="table")


def cmd_cache_clear(args, registry) -> Result:
    for name, client in _cache_clients(args, registry):
        entries, files, size = _cache_stats(Path(client.cache_location))
        client.clear_cache()
        say(f"cache cleared: {name} ({entries} answers, {files} files, {size / 2**20:.1f} MiB)")
    return Result()


def cmd_sandbox(args, extra: list[str]) -> Result:
    from astroquery_ext._base.extras import require_extra

    if not any(a in ("-h", "--help") for a in extra):
        require_extra("sandbox", "The sandbox")
    from astroquery_ext.sandbox.__main__ import main as sandbox_main

    with contextlib.redirect_stdout(args._stdout):  # the sandbox's own report is its output
        code = sandbox_main(extra)
    return Result(code, kind="exit")


def cmd_demo(args, extra: list[str]) -> Result:
    from astroquery_ext._base.extras import require_extra

    if not any(a in ("-h", "--help") for a in extra):
        require_extra("sandbox", "The demo tour")
        require_extra("plot", "The demo tour")
    from astroquery_ext.demo import main as demo_main

    with contextlib.redirect_stdout(args._stdout):
        code = demo_main(extra)
    return Result(code, kind="exit")


def _service(text: str) -> str:
    if text not in SERVICES:
        raise argparse.ArgumentTypeError(f"unknown service {text!r}; choose from {', '.join(SERVICES)}")
    return text


def add_tools(services) -> None:
    cache = services.add_parser("cache", help="the response cache: info, clear")
    cache_sub = cache.add_subparsers(dest="command", metavar="ACTION", required=True)
    info = cache_sub.add_parser("info", parents=[table_options()], help="where, how many entries, how big")
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

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
table|csv|ecsv|json|votable|fits``, ``--columns`` and ``-o/--output FILE``
(the format is then guessed from the file's extension). Results go to
standard output, and nothing else does: progress, warnings and messages go to
standard error.

Exit status: 0 on success, 1 when a service or an argument is refused (one
line on standard error says why), 2 on a usage error, 130 when interrupted.

Credentials are never taken as plain options except an ATLAS API token
(``--token -`` reads it from standard input); passwords come from the same
chain as the modules: ``ASTROQUERY_EXT_<SERVICE>_PASSWORD``, the keyring, or
a prompt when standard input is a terminal. Logins are stored (keyring, else a
private file) so that later commands need none; ``logout`` removes them.

The package: this file holds the parser and `main`; ``output.py`` the
formats; ``service.py`` what every service's commands share (client, kept
logins, account commands, messages); ``tools.py`` the cache, sandbox and demo
commands; and one file per service (``atlas.py``...) its commands, each
handing in a `~astroquery_ext.cli.service.ServiceCLI` named ``CLI``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings

from astroquery_ext import SERVICES, __version__
from astroquery_ext.cli.output import PROG, Result, UsageError, emit, format_for, say, terminal_safe, write_table
from astroquery_ext.cli.service import ServiceCLI, add_service, explain, in_cli_terms, run_service_command
from astroquery_ext.cli.tools import add_tools

__all__ = ["main", "build_parser", "write_table", "service_cli"]


def service_cli(name: str) -> ServiceCLI:
    """The command-line description of a service: ``CLI`` in ``astroquery_ext/cli/<name>.py``."""
    return importlib.import_module(f"astroquery_ext.cli.{name}").CLI


class _Parser(argparse.ArgumentParser):
    """argparse with a clear one-line usage error (exit status 2)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command.

    With ``argv``, only the commands of the service it names are built in
    full (the others' modules are not imported): a command starts faster.
    """
    parser = _Parser(prog=PROG, description="astroquery-style clients for ATLAS, GRAD300, CERN ATLAS Glance "
                                            "and Tupli, from the command line.",
                     epilog=f"'{PROG} SERVICE COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    services = parser.add_subparsers(dest="service", metavar="COMMAND", required=True, parser_class=_Parser)
    wanted = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name in SERVICES:
        if wanted is None or wanted == name:
            add_service(services, service_cli(name))
        else:  # named in the overview only; never parsed this run
            services.add_parser(name, help=service_cli(name).title, add_help=False)
    add_tools(services)
    return parser


# -- running a command ---------------------------------------------------------------------------


def _run(args, extra: list[str], stdout) -> Result:
    if getattr(args, "passthrough", False):
        args._stdout = stdout
        return args.handler(args, extra)
    if getattr(args, "standalone", False):
        return args.handler(args, service_cli)
    return run_service_command(args.service_cli, args)


class _SafeFormatter(logging.Formatter):
    """Log lines on standard error with the control characters of what servers sent shown escaped."""

    def format(self, record) -> str:
        return terminal_safe(super().format(record), keep="\n")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    say(f"warning: {in_cli_terms(' '.join(str(message).split()), _CURRENT.get('service'))}")


_CURRENT: dict = {}


def _one_line(exc: BaseException, args) -> str:
    from astroquery_ext._base.redaction import redact

    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == "DSLError":  # the caret lines under it only make sense in a terminal
        text = text.splitlines()[0]
    text = " ".join(text.split())
    if isinstance(exc, (KeyError, LookupError)) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return redact(explain(exc, args, text))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    debug = getattr(args, "debug", False)
    if getattr(args, "output", None) and getattr(args, "format", None) is None and hasattr(args, "format"):
        try:
            format_for(args.output, None)
        except UsageError as exc:
            parser.error(str(exc))
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_SafeFormatter(f"{PROG}: %(message)s"))
        log = logging.getLogger("astroquery_ext")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    stdout = sys.stdout
    _CURRENT["service"] = getattr(args, "service_cli", None)
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
            say(f"error: {result.error}")
            return 1
        return 0
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except UsageError as exc:
        say(f"error: {_one_line(exc, args)}")
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

        expected = (AstroqueryExtError, AqLoginError, ValueError, TypeError, LookupError, OSError, RuntimeError,
                    ImportError)
        if isinstance(exc, expected):
            say(f"error: {_one_line(exc, args)}")
        else:
            say(f"error: unexpected {type(exc).__name__}: {_one_line(exc, args)} (--debug shows the traceback)")
        return 1
    finally:
        warnings.showwarning = saved_showwarning
        _CURRENT.clear()

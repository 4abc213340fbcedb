"""What every service's commands share: the client, the login kept between runs, the account commands.

A service's file (``cli/atlas.py``...) defines one `ServiceCLI` subclass and
an instance of it named ``CLI``: its commands and argparse tree, how to log
in, what a login leaves for later commands, and the advice of its messages.
The code here reads those and never names a service.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Iterator

from astroquery_ext.cli.output import PROG, Result, say

# -- what a login leaves for later runs (never a secret) ------------------------------------------


def state_file() -> Path:
    from astropy.config.paths import get_config_dir_path

    return get_config_dir_path() / "astroquery_ext" / "cli.json"


def _read_state() -> dict:
    try:
        data = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(service: str, server: str) -> dict:
    """What the last login on ``server`` left (``{"username": ...}``, Glance's login service...)."""
    value = _read_state().get(service, {}).get(server)
    if isinstance(value, str):  # written by earlier versions: the user name alone
        return {"username": value} if value else {}
    return {k: v for k, v in value.items() if isinstance(v, str) and v} if isinstance(value, dict) else {}


def remember(service: str, server: str, values: dict | None) -> None:
    """Keep ``values`` for later commands on ``server`` (none: forget what was kept)."""
    from astroquery_ext._base.private import write_private

    data = _read_state()
    entries = data.setdefault(service, {})
    values = {k: v for k, v in (values or {}).items() if isinstance(v, str) and v}
    if values:
        entries[server] = values
    else:
        entries.pop(server, None)
    write_private(state_file(), json.dumps(data, indent=1).encode())


# -- the client's login state -----------------------------------------------------------------------
# The one place the command line goes beyond a client's public methods: logging in without ever
# prompting (the base's hook, also used by the first query).


def resume(client) -> bool:
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


def show_progress() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def no_cache(args) -> bool | None:
    """``cache=`` for a module call: False with ``--no-cache``, else the module's default."""
    return False if getattr(args, "no_cache", False) else None


# -- one service, as its file describes it ----------------------------------------------------------


class ServiceCLI:
    """A service's commands, and what the shared code needs to know of it.

    Subclasses set the class attributes and override the hooks; the instance
    named ``CLI`` in ``astroquery_ext/cli/<name>.py`` is what `build_parser`
    finds for ``astroquery-ext <name>``.
    """

    #: The command, and the module ``astroquery_ext.<name>``.
    name: str = ""
    #: One line for ``astroquery-ext --help``.
    title: str = ""
    #: The service class in the module (``AtlasClass``...).
    client_class: str = ""
    #: Where the password chain is described (``login --help``); empty: the service has no passwords.
    passwords: bool = True
    #: Log in from a stored login before every command but login/logout (reads that need none
    #: still work without one).
    resume_before_commands: bool = False
    #: Look up the stored login before ``logout`` (to name the user and revoke its token).
    resume_before_logout: bool = True
    #: The login command for messages, after ``astroquery-ext <name> login``.
    login_usage: str = ""
    #: Other ways to log in, for messages (``"or set ..."``).
    login_alternatives: str = ""
    #: The module's login keywords (``"force=True"`` or ``"username"``) -> options of ``login``, to
    #: turn the modules' Python advice into commands.
    login_flags: dict[str, str] = {}

    # -- the client --------------------------------------------------------------------------

    def module(self):
        return importlib.import_module(f"astroquery_ext.{self.name}")

    def add_connection_options(self, group) -> None:
        """More options of the connection group, besides --server and --timeout."""

    def client_settings(self, args, kept: dict) -> dict:
        """Constructor settings of the client from the options and what a login kept."""
        return {}

    def make_client(self, args):
        """A client for this command: ``--server``, ``--timeout`` and the service's own settings."""
        cls = getattr(self.module(), self.client_class)
        kwargs = {"server": getattr(args, "server", None), "timeout": getattr(args, "timeout", None)}
        client = cls(**kwargs)
        settings = self.client_settings(args, remembered(self.name, client.server))
        return cls(**kwargs, **settings) if settings else client

    @contextlib.contextmanager
    def session(self, client) -> Iterator[None]:
        """Around a command: the user name a login kept, unless one is configured."""
        from astroquery_ext._base.credentials import env_var

        user = remembered(self.name, client.server).get("username")
        conf = client.conf
        if user and hasattr(type(conf), "username") and not conf.username \
                and not os.environ.get(env_var(self.name, "username")):
            with conf.set_temp("username", user):
                yield
        else:
            yield

    # -- logging in ----------------------------------------------------------------------------

    def add_login_options(self, login) -> None:
        """The options of ``login`` (``--no-store`` is added for every service)."""

    def login(self, client, args) -> None:
        """Log in as the options say (the module's ``login``, with `login_keywords`)."""
        raise NotImplementedError

    def login_keywords(self, args) -> dict:
        """The keywords every module's ``login`` shares, from the shared options of ``login``."""
        keywords = {"store_token": not args.no_store}
        if self.passwords:
            keywords.update(store_password=args.store_password, reenter_password=args.reenter_password)
        return keywords

    def kept_after_login(self, client, args) -> dict:
        """What later commands on this server need to know of the login (never a secret)."""
        return {"username": client.whoami()}

    def whoami(self, client) -> str | None:
        return client.whoami()

    def not_logged_in(self, server: str, args) -> str:
        where = f" --server {args.server}" if getattr(args, "server", None) else ""
        also = f", {self.login_alternatives}" if self.login_alternatives else ""
        usage = f" {self.login_usage}" if self.login_usage else ""
        return f"not logged in to {self.name} at {server}: run '{PROG} {self.name} login{usage}{where}'{also}"

    # -- the commands ------------------------------------------------------------------------------

    def add_commands(self, sub, common: argparse.ArgumentParser) -> None:
        """The service's own commands (the account commands are added by the shared code)."""
        raise NotImplementedError


# -- the account commands of every service ----------------------------------------------------------


def cmd_login(service: ServiceCLI, client, args) -> Result:
    service.login(client, args)
    who = client.whoami()
    if not args.no_store:
        remember(service.name, client.server, service.kept_after_login(client, args))
    stored = "" if args.no_store else "; stored for later commands"
    say(f"{service.name}: logged in{' as ' + who if who else ''} at {client.server}{stored}")
    return Result()


def cmd_logout(service: ServiceCLI, client, args) -> Result:
    if service.resume_before_logout:
        resume(client)
    who = client.whoami()
    client.logout(forget=True)
    remember(service.name, client.server, None)
    say(f"{service.name}: logged out{' ' + who if who else ''}; stored credentials removed")
    return Result()


def cmd_whoami(service: ServiceCLI, client, args) -> Result:
    from astroquery_ext.exceptions import LoginError

    if not resume(client):
        raise LoginError(service.not_logged_in(client.server, args), service=service.name)
    who = service.whoami(client)
    return Result(who or "(logged in with a token; user name unknown)", kind="text")


def common_options(service: ServiceCLI) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--server", metavar="URL",
                       help=f"API root URL (default: astroquery_ext.{service.name}.conf.server)")
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="seconds to wait for the server")
    service.add_connection_options(group)
    group.add_argument("-v", "--verbose", action="store_true", help="log each request (URL, status, time) on stderr")
    group.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return common


def add_service(services, service: ServiceCLI) -> None:
    """``astroquery-ext <service> ...``: the account commands and the service's own."""
    parser = services.add_parser(service.name, help=service.title, description=f"{service.title}.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options(service)
    where = (f" Passwords come from ASTROQUERY_EXT_{service.name.upper()}_PASSWORD, the keyring, or a prompt "
             f"on a terminal, never from the command line." if service.passwords else "")
    login = sub.add_parser("login", parents=[common], help="log in and keep the login for later commands",
                           description=f"Log in to {service.name}.{where}")
    service.add_login_options(login)
    login.add_argument("--no-store", action="store_true", help="do not keep the login for later commands")
    if service.passwords:
        login.add_argument("--store-password", action="store_true",
                           help="also keep the password in the keyring (to log in again when the token expires)")
        login.add_argument("--reenter-password", action="store_true",
                           help="ask for the password (environment or prompt) even if the keyring holds one")
    login.set_defaults(handler=cmd_login, account=True)
    logout = sub.add_parser("logout", parents=[common], help="log out and remove the stored login")
    logout.set_defaults(handler=cmd_logout, account=True)
    whoami = sub.add_parser("whoami", parents=[common], help="the user logged in (stored login)")
    whoami.set_defaults(handler=cmd_whoami, account=True)
    service.add_commands(sub, common)
    parser.set_defaults(service_cli=service)


def run_service_command(service: ServiceCLI, args) -> Result:
    client = service.make_client(args)
    args.client = client
    with service.session(client):
        if getattr(args, "account", False):
            return args.handler(service, client, args)
        if service.resume_before_commands:
            resume(client)  # reads are anonymous unless a stored login is used
        return args.handler(client, args)


# -- messages in the command line's words ---------------------------------------------------------


_LOGIN_CALL = re.compile(r"`?\b(?:[A-Z]\w*\.)?login\(([^()]*)\)`?")
_CONF = re.compile(r"(?<![\w.])conf\.(\w+)")


def in_cli_terms(text: str, service: ServiceCLI | None) -> str:
    """A module's message with its Python advice turned into the command line's.

    ``Atlas.login(username=...)`` becomes ``'astroquery-ext atlas login
    --username NAME'``, ``row_limit=`` ``--limit``, ``conf.server``
    ``--server``.
    """
    text = re.sub(r"[Pp]ass a larger row_limit \(or -1 for all\)", "Pass a larger --limit", text)
    text = re.sub(r"\brow_limit=(\S+?)([;,.]?(?:\s|$))", r"--limit \1\2", text)
    if service is None:
        return text

    def login(match: re.Match) -> str:
        flags = []
        for part in (p.strip() for p in match.group(1).split(",")):
            key = part.replace('"', "'").replace(" ", "")
            flag = service.login_flags.get(key) or service.login_flags.get(key.split("=", 1)[0])
            if flag and flag not in flags:
                flags.append(flag)
        return f"'{PROG} {service.name} login{''.join(' ' + f for f in flags)}'"

    text = _LOGIN_CALL.sub(login, text)
    # Where the server URL came from (the base's words): the option, or the configuration.
    text = re.sub(r"\b[A-Z]\w*\.server is ('[^']*') \(from the server= argument\)", r"the server is \1 (from --server)",
                  text)
    text = re.sub(r"\b[A-Z]\w*\.server is ('[^']*') \(from (astroquery_ext\.\w+\.conf\.server)\)",
                  r"the server is \1 (from \2; --server URL for another)", text)

    def conf(match: re.Match) -> str:
        item = match.group(1)
        if item in ("server", "timeout"):
            return f"--{item}"
        return f"astroquery_ext.{service.name}.conf.{item}"

    return _CONF.sub(conf, text)


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server could not be reached (no answer at all)."""
    import requests

    seen = exc.__context__ or exc.__cause__
    if isinstance(seen, requests.exceptions.ConnectionError) and \
            not isinstance(seen, requests.exceptions.ReadTimeout):
        return True
    return getattr(exc, "status", 0) is None and any(
        word in str(exc) for word in ("ConnectionError", "NewConnectionError", "Connection refused",
                                      "Name or service not known", "ConnectTimeout"))


def explain(exc: BaseException, args, text: str) -> str:
    """The one-line message of an error of a service command, in the command line's words."""
    from astroquery_ext.exceptions import AstroqueryExtError, LoginError

    service: ServiceCLI | None = getattr(args, "service_cli", None)
    client = getattr(args, "client", None)
    if service is None or client is None:
        return in_cli_terms(text, service)
    server = client.server
    if isinstance(exc, LoginError) and getattr(args, "command", None) != "login" \
            and exc.status is None and exc.detail is None:
        # No login at all (none given, none stored): say how to log in from here.
        return service.not_logged_in(server, args)
    text = in_cli_terms(text, service)
    if isinstance(exc, AstroqueryExtError) and unreachable(exc) and "--server" not in text:
        option = "the --server option" if getattr(args, "server", None) else \
            f"--server, or server in the [{service.name}] section of astroquery_ext.cfg " \
            f"(astroquery_ext.{service.name}.conf.server)"
        text = f"{text} Is {server} the right server? Check {option}."
    return text


# -- argparse --------------------------------------------------------------------------------------


def negative_positionals(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let positionals of ``parser`` start with a minus and a digit (``-12:30:00``, ``-12d30m``).

    argparse takes only plain negative numbers (``-12.5``) for positionals and
    anything else that starts with ``-`` for an option. The parser must then
    have no option that starts with ``-`` and a digit.
    """
    parser._negative_number_matcher = re.compile(r"^-\d")
    return parser

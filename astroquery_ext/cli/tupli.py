"""``astroquery-ext tupli ...``: the Tupli offline-RL store (`astroquery_ext.tupli`)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from astroquery_ext.cli.output import (
    Result, UsageError, directory_target, is_directory_target, json_options, say, table_options)
from astroquery_ext.cli.service import ServiceCLI


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def _filter(args, *, benchmark_key: str | None = None):
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


def _read_text(name: str) -> str:
    source = sys.stdin if name == "-" else open(name, encoding="utf-8")
    with source if source is not sys.stdin else contextlib.nullcontext(source):
        return source.read()


# -- benchmarks, artifacts, episodes, groups ------------------------------------------------------

def cmd_benchmarks_list(client, args) -> Result:
    return Result(client.list_benchmarks(_filter(args)), kind="table")


def cmd_benchmarks_show(client, args) -> Result:
    return Result(client.load_benchmark(args.id), kind="json")


def cmd_benchmarks_store(client, args) -> Result:
    meta = _metadata(args, ("name", "description", "difficulty", "version"))
    return Result(client.store_benchmark(_read_text(args.file), meta), kind="json")


def cmd_artifacts_list(client, args) -> Result:
    return Result(client.list_artifacts(_filter(args)), kind="table")


def cmd_artifacts_upload(client, args) -> Result:
    path = Path(args.file)
    if not path.is_file():
        raise ValueError(f"no file {args.file!r}")
    return Result(client.store_artifact(path, _metadata(args, ("name", "description", "benchmark_id"))),
                  kind="json")


def cmd_artifacts_download(client, args) -> Result:
    # "-o models/" (or an existing directory) is a folder, made if missing: the server's file name is kept.
    target = directory_target(args.output_path) if is_directory_target(args.output_path) else args.output_path
    path = client.load_artifact(args.id, target, overwrite=args.overwrite)
    say(f"tupli: artifact {args.id} saved")
    return Result(str(path), kind="text")


def cmd_episodes_list(client, args) -> Result:
    return Result(client.list_episodes(_filter(args, benchmark_key="benchmark_id")), kind="table")


def cmd_episodes_tuples(client, args) -> Result:
    if args.episode:
        return Result(client.get_episode(args.episode), kind="table")
    return Result(client.get_tuples(_filter(args, benchmark_key="benchmark_id")), kind="table")


def cmd_groups_list(client, args) -> Result:
    return Result(client.list_groups(), kind="table")


def cmd_groups_show(client, args) -> Result:
    return Result(client.read_group(args.name), kind="json")


def cmd_groups_create(client, args) -> Result:
    return Result(client.create_group(args.name, args.description), kind="json")


def cmd_groups_add(client, args) -> Result:
    members: dict[str, list[str]] = {}
    for item in args.members:
        user, _, roles = item.partition(":")
        members[user] = [r for r in roles.split(",") if r] or ["member"]
    return Result(client.add_group_members(args.name, members), kind="json")


def cmd_groups_remove(client, args) -> Result:
    return Result(client.remove_group_members(args.name, args.users), kind="json")


def cmd_groups_delete(client, args) -> Result:
    client.delete_group(args.name)
    say(f"tupli: group {args.name} deleted")
    return Result()


def cmd_delete(client, args) -> Result:
    getattr(client, f"delete_{args.item}")(args.id)
    say(f"tupli: {args.item} {args.id} deleted")
    return Result()


def cmd_publish(client, args) -> Result:
    getattr(client, f"publish_{args.item}")(args.id, args.group)
    say(f"tupli: {args.item} {args.id} published to {args.group}")
    return Result()


def cmd_unpublish(client, args) -> Result:
    getattr(client, f"unpublish_{args.item}")(args.id, args.group)
    say(f"tupli: {args.item} {args.id} withdrawn from {args.group}")
    return Result()


# -- users and roles ---------------------------------------------------------------------------

#: Where ``users change-password`` reads the new password when there is no terminal to ask on.
NEW_PASSWORD_VARIABLE = "ASTROQUERY_EXT_TUPLI_NEW_PASSWORD"


def cmd_users_list(client, args) -> Result:
    return Result(client.list_users(), kind="table")


def cmd_users_change_password(client, args) -> Result:
    from astroquery_ext._base import register_secret

    password = os.environ.get(NEW_PASSWORD_VARIABLE) or None
    if password is not None:
        register_secret(password)
    elif not client.credentials.interactive():
        raise ValueError(f"no new password: set {NEW_PASSWORD_VARIABLE}, or run the command on a terminal "
                         f"to be asked (twice); a password is never taken from the command line")
    client.change_password(args.username, password)   # without one: asked twice on the terminal
    say(f"tupli: password of {args.username} changed")
    return Result()


def cmd_users_delete(client, args) -> Result:
    from astroquery_ext.cli.service import remember

    yourself = client.whoami() == args.username
    client.delete_user(args.username)
    if yourself:  # the module logged out and forgot the stored login; so does the command line
        remember("tupli", client.server, None)
    say(f"tupli: user {args.username} deleted{' (you: logged out)' if yourself else ''}")
    return Result()


def cmd_roles_list(client, args) -> Result:
    return Result(client.list_roles(), kind="table")


def cmd_roles_create(client, args) -> Result:
    rights = [r.strip() for item in args.rights for r in item.split(",") if r.strip()]
    return Result(client.create_role(args.name, rights, args.description), kind="json")


def cmd_roles_delete(client, args) -> Result:
    client.delete_role(args.name)
    say(f"tupli: role {args.name} deleted")
    return Result()


# -- recording episodes from a file ---------------------------------------------------------------

#: Columns of ``episodes tuples`` that say where a step belongs, not what it is.
_PLACE_COLUMNS = ("episode_id", "step")
#: Columns a text format (CSV, a FITS string column) holds as JSON text.
_JSON_COLUMNS = ("state", "action", "info")


def _tuples_from_lines(text: str, name: str) -> list[dict]:
    """JSON lines (one step a line), or one JSON array of steps (``episodes tuples --format json``)."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        rows = _json_arg(text, name)
        where = [f"item {i}" for i in range(len(rows))]
    else:
        rows, where = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                rows.append(_json_arg(line, f"{name}, line {number}"))
                where.append(f"line {number}")
    for row, at in zip(rows, where):
        if not isinstance(row, dict):
            raise ValueError(f"{name}, {at}: each step must be a JSON object with state, action, reward; "
                             f"got {type(row).__name__}")
    if not rows:
        raise ValueError(f"{name} holds no steps")
    return rows


def _tuples_from_table(path: str) -> list[dict]:
    """A table's rows as steps; columns a text format holds as JSON text (CSV, FITS) read back."""
    from astropy.table import Table

    try:
        table = Table.read(path)
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for an unreadable file
        raise ValueError(f"{path} could not be read as a table (ECSV, FITS, VOTable) or JSON lines: "
                         f"{exc}") from None
    text = [name for name in _JSON_COLUMNS if name in table.colnames and table[name].dtype.kind in "SU"]
    steps = []
    for i in range(len(table)):
        step = {name: table[name][i] for name in table.colnames}
        for name in text:
            cell = step[name].decode() if isinstance(step[name], bytes) else str(step[name])
            step[name] = _json_arg(cell, f"{path}: column {name!r}, row {i}") if cell else None
        steps.append(step)
    return steps


def _episodes_in(steps: list[dict], name: str) -> list[list[dict]]:
    """Steps grouped into episodes by ``episode_id`` (in the order they first appear), else one episode."""
    if not any("episode_id" in s for s in steps):
        return [steps]
    if not all("episode_id" in s for s in steps):
        raise ValueError(f"{name}: some steps have an episode_id and some do not")
    episodes: dict[Any, list[dict]] = {}
    for step in steps:
        episodes.setdefault(str(step["episode_id"]), []).append(step)
    out = []
    for group in episodes.values():
        if all("step" in s for s in group):
            group = sorted(group, key=lambda s: int(s["step"]))
        out.append(group)
    return out


def _plain(step: dict) -> dict:
    import numpy as np

    row = {}
    for key, value in step.items():
        if key in _PLACE_COLUMNS:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        row[key] = value
    return row


def cmd_episodes_record(client, args) -> Result:
    name = "standard input" if args.file == "-" else args.file
    if args.file != "-" and not Path(args.file).is_file():
        raise ValueError(f"no file {args.file!r}")
    if args.file == "-" or Path(args.file).suffix.lower() in (".jsonl", ".ndjson", ".json"):
        steps = _tuples_from_lines(_read_text(args.file), name)
    else:
        steps = _tuples_from_table(args.file)
    episodes = [[_plain(step) for step in group] for group in _episodes_in(steps, name)]
    metadata = None
    if args.metadata:
        metadata = _json_arg(args.metadata, "--metadata")
        if not isinstance(metadata, dict):
            raise ValueError("--metadata must be a JSON object")
    if len(episodes) == 1:
        table = client.record_episode(args.benchmark_id, episodes[0], metadata)
    else:
        table = client.record_episodes(args.benchmark_id, episodes, metadata)
    say(f"tupli: {len(table)} episode(s) of {sum(map(len, episodes))} steps recorded")
    return Result(table, kind="table")


def cmd_signup(client, args) -> Result:
    return Result(client.signup(args.username), kind="json")


class TupliCLI(ServiceCLI):
    name = "tupli"
    title = "Tupli offline-RL store"
    client_class = "TupliClass"
    resume_before_commands = True
    login_usage = "--username NAME"
    login_flags = {"username": "--username NAME", "store_password=True": "--store-password",
                   "reenter_password=True": "--reenter-password"}

    def add_login_options(self, login) -> None:
        login.add_argument("--username", help="the account")

    def login(self, client, args) -> None:
        client.login(args.username, **self.login_keywords(args))

    def whoami(self, client) -> str | None:
        return client.whoami()

    def add_commands(self, sub, common) -> None:
        table, js = table_options(), json_options()
        signup = sub.add_parser("signup", parents=[common, js], help="create an account (password from the chain)")
        signup.add_argument("username")
        signup.set_defaults(handler=cmd_signup)

        def filters(p, benchmark: bool = False):
            p.add_argument("--where", action="append", metavar="KEY=VALUE",
                           help="keep items whose KEY (a dotted path such as metadata.name) equals VALUE "
                                "(JSON or text); repeat to combine with AND")
            p.add_argument("--filter", metavar="JSON", help="a filter as the server takes it, e.g. "
                                                            "'{\"type\": \"EQ\", \"key\": \"hash\", \"value\": \"...\"}'")
            if benchmark:
                p.add_argument("--benchmark-id", metavar="ID", help="only this benchmark's episodes")

        def item_actions(kind_sub, item: str):
            delete = kind_sub.add_parser("delete", parents=[common], help=f"delete a {item}")
            delete.add_argument("id")
            delete.set_defaults(handler=cmd_delete, item=item)
            publish = kind_sub.add_parser("publish", parents=[common], help=f"let a group read a {item}")
            publish.add_argument("id")
            publish.add_argument("--group", default="global", help="default: global (everyone)")
            publish.set_defaults(handler=cmd_publish, item=item)
            unpublish = kind_sub.add_parser("unpublish", parents=[common], help=f"take a {item} back from a group")
            unpublish.add_argument("id")
            unpublish.add_argument("--group", required=True)
            unpublish.set_defaults(handler=cmd_unpublish, item=item)

        def kind(name: str, help: str):
            return sub.add_parser(name, help=help).add_subparsers(dest="action", metavar="ACTION", required=True)

        bench = kind("benchmarks", "benchmarks")
        listing = bench.add_parser("list", parents=[common, table], help="benchmarks you can see")
        filters(listing)
        listing.set_defaults(handler=cmd_benchmarks_list)
        show = bench.add_parser("show", parents=[common, js], help="one benchmark, serialized environment included")
        show.add_argument("id")
        show.set_defaults(handler=cmd_benchmarks_show)
        store = bench.add_parser("store", parents=[common, js], help="store a serialized environment")
        store.add_argument("file", help="the serialized environment (text); '-': standard input")
        store.add_argument("--name", required=True)
        store.add_argument("--description")
        store.add_argument("--difficulty")
        store.add_argument("--version")
        store.add_argument("--extra", metavar="JSON", help="extra metadata, a JSON object")
        store.set_defaults(handler=cmd_benchmarks_store)
        item_actions(bench, "benchmark")

        arts = kind("artifacts", "artifacts (files)")
        listing = arts.add_parser("list", parents=[common, table], help="artifacts you can see")
        filters(listing)
        listing.set_defaults(handler=cmd_artifacts_list)
        upload = arts.add_parser("upload", parents=[common, js], help="upload a file (streamed)")
        upload.add_argument("file")
        upload.add_argument("--name", help="default: the file's name")
        upload.add_argument("--description")
        upload.add_argument("--benchmark-id")
        upload.add_argument("--extra", metavar="JSON", help="extra metadata, a JSON object")
        upload.set_defaults(handler=cmd_artifacts_upload)
        download = arts.add_parser("download", parents=[common], help="download an artifact to a file or directory")
        download.add_argument("id")
        download.add_argument("-o", "--output", dest="output_path", required=True, metavar="PATH",
                              help="a file, or a directory (DIR/ or an existing one; created if missing, "
                                   "the artifact keeps its name)")
        download.add_argument("--overwrite", action="store_true")
        download.set_defaults(handler=cmd_artifacts_download)
        item_actions(arts, "artifact")

        eps = kind("episodes", "episodes")
        listing = eps.add_parser("list", parents=[common, table], help="episodes you can see, one row each")
        filters(listing, benchmark=True)
        listing.set_defaults(handler=cmd_episodes_list)
        tuples = eps.add_parser("tuples", parents=[common, table], help="the steps of episodes, one row each")
        tuples.add_argument("--episode", metavar="ID", help="one episode")
        filters(tuples, benchmark=True)
        tuples.set_defaults(handler=cmd_episodes_tuples)
        record = eps.add_parser(
            "record", parents=[common, table], help="record episodes from a file of steps",
            description="Record the steps in FILE as episodes of a benchmark. FILE is JSON lines (one step a "
                        "line: {\"state\": [...], \"action\": ..., \"reward\": ..., \"terminal\": false, "
                        "\"timeout\": false, \"info\": {}}), a JSON array of such steps, or a table "
                        "(ECSV, FITS, VOTable) with those columns, such as 'episodes tuples -o steps.ecsv' "
                        "writes. Steps with an episode_id are recorded as one episode per id, in the order "
                        "of their step column; otherwise the whole file is one episode. Prints the "
                        "recorded episodes' headers.")
        record.add_argument("file", help="JSON lines (.jsonl, .json; '-': standard input) or a table file")
        record.add_argument("--benchmark-id", required=True, metavar="ID", help="the benchmark the episodes ran on")
        record.add_argument("--metadata", metavar="JSON", help="metadata of every episode, a JSON object")
        record.set_defaults(handler=cmd_episodes_record)
        item_actions(eps, "episode")

        users = kind("users", "user accounts")
        users.add_parser("list", parents=[common, table], help="users and their group memberships (a login)"
                         ).set_defaults(handler=cmd_users_list)
        change = users.add_parser(
            "change-password", parents=[common], help="set a new password (yours, or anyone's as admin)",
            description=f"Set a new password for USER. The new password comes from {NEW_PASSWORD_VARIABLE}, "
                        f"else it is asked for on a terminal (twice); never from the command line. A password "
                        f"kept in the keyring for USER is updated.")
        change.add_argument("username", metavar="USER")
        change.set_defaults(handler=cmd_users_change_password)
        delete = users.add_parser("delete", parents=[common],
                                  help="delete a user and their private items (yourself, or anyone as admin)",
                                  description="Delete USER and their private items. Deleting yourself also "
                                              "logs out and removes the stored login.")
        delete.add_argument("username", metavar="USER")
        delete.set_defaults(handler=cmd_users_delete)

        roles = kind("roles", "roles and their rights")
        roles.add_parser("list", parents=[common, table], help="roles and their rights (admin only)"
                         ).set_defaults(handler=cmd_roles_list)
        create = roles.add_parser("create", parents=[common, js], help="create a role (admin only)")
        create.add_argument("name")
        create.add_argument("--rights", required=True, action="append", metavar="RIGHT[,RIGHT]",
                            help="the rights it grants, comma-separated or repeated (benchmark_read, episode_create, "
                                 "role_management...: a wrong one is refused with the list)")
        create.add_argument("--description")
        create.set_defaults(handler=cmd_roles_create)
        delete = roles.add_parser("delete", parents=[common], help="delete a role, and take it from everyone "
                                                                     "(admin only)")
        delete.add_argument("name")
        delete.set_defaults(handler=cmd_roles_delete)

        groups = kind("groups", "groups")
        groups.add_parser("list", parents=[common, table], help="groups on the server").set_defaults(
            handler=cmd_groups_list)
        show = groups.add_parser("show", parents=[common, js], help="one group and its members")
        show.add_argument("name")
        show.set_defaults(handler=cmd_groups_show)
        create = groups.add_parser("create", parents=[common, js], help="create a group")
        create.add_argument("name")
        create.add_argument("--description")
        create.set_defaults(handler=cmd_groups_create)
        add = groups.add_parser("add", parents=[common, js], help="add members: USER or USER:ROLE[,ROLE]")
        add.add_argument("name")
        add.add_argument("members", nargs="+", metavar="USER[:ROLES]")
        add.set_defaults(handler=cmd_groups_add)
        remove = groups.add_parser("remove", parents=[common, js], help="remove members")
        remove.add_argument("name")
        remove.add_argument("users", nargs="+", metavar="USER")
        remove.set_defaults(handler=cmd_groups_remove)
        delete = groups.add_parser("delete", parents=[common], help="delete a group")
        delete.add_argument("name")
        delete.set_defaults(handler=cmd_groups_delete)


CLI = TupliCLI()

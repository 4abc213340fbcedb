"""`TupliClass`: users, groups, roles, benchmarks, artifacts and episodes of a Tupli server.

Wire protocol: that of pytupli 1.2.9's server. What this
module adds to the shared base:

- login with the JSON token endpoint; the access and refresh tokens are kept
  through the credential chain (keyring, else a 0600 file) per user and
  server, and renewed with the refresh endpoint, which answers a flat
  ``{"token": ...}`` and no new refresh token;
- artifact uploads streamed as ``multipart/form-data`` from a path or a file
  (never read whole), downloads streamed to ``.part`` + rename, each download
  with ``Connection: close`` (the server drops the connection after it);
- episodes from Tables, dicts of arrays or lists of dicts, checked and encoded
  before anything is sent; tuples back as Tables with array columns;
- the inputs the server accepts but then fails on (metadata outside Latin-1,
  an empty episode, NaN) are refused up front with a `ValueError`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from astropy.table import Table
from astropy.utils.exceptions import AstropyDeprecationWarning

from astroquery_ext._base import (
    AstroqueryExtError, AuthState, ConflictError, DownloadError, DownloadJob,
    LoginError, NotFoundError, ServiceQuery, bounded_map, check_max_workers, download_file,
    gc_paused, jwt_expiry, warn_if_empty)
from astroquery_ext._base.args import text_arg
from astroquery_ext._base.docs import shared_doc
from astroquery_ext._base.result import as_result
from astroquery_ext._base.shapes import RECORDS, object_with
from astroquery_ext.tupli import conf
from astroquery_ext.tupli._docs import (
    FILTER_DOC, LIST_OPTIONS_DOC, NOT_CACHED_DOC, PUBLISH_TO, UNPUBLISH_FROM, item_parameters, list_sections)
from astroquery_ext.tupli._wire import (
    ARTIFACT_KEYS, METADATA_LIMIT, MultipartBody, UploadSource, as_metadata_dict, benchmark_hash, benchmark_metadata,
    multipart_content_type, new_boundary,
    artifact_expectation, check_latin1, id_arg, jsonable_dict, optional_str_arg)
from astroquery_ext.tupli.fields import (
    ARTIFACT_FIELDS, BENCHMARK_FIELDS, EPISODE_FIELDS, GROUP_FIELDS, GROUP_MEMBER_FIELDS, LOADED_BENCHMARK_FIELDS,
    ROLE_FIELDS, USER_FIELDS, tuples_table)
from astroquery_ext.tupli.episodes import EpisodesMixin
from astroquery_ext.tupli.filters import Filter

__all__ = ["Tupli", "TupliClass", "benchmark_hash", "RIGHTS"]

#: The rights a role may hold (pytupli's ``RIGHT`` values).
RIGHTS = ("benchmark_create", "benchmark_read", "benchmark_delete",
          "artifact_create", "artifact_read", "artifact_delete",
          "episode_create", "episode_read", "episode_delete",
          "user_create", "user_read", "user_update", "user_delete",
          "group_create", "group_read", "group_update", "group_delete",
          "role_management")

# -- the service class --------------------------------------------------------------------


class TupliClass(EpisodesMixin, ServiceQuery):
    """Client of a Tupli server (pytupli's API): an offline-RL store.

    Parameters
    ----------
    server : str, optional
        The API root URL; default ``conf.server``, read at call time.
    timeout : float, optional
        Seconds to wait for the server; default ``conf.timeout``.

    Notes
    -----
    Reads work without logging in where the server allows anonymous access
    (content published to ``global``). Writes log in on demand from the
    environment or the keyring, else raise `~astroquery_ext.exceptions.LoginError`.
    Nothing is cached: Tupli content changes as users write.
    """

    service = "tupli"
    conf = conf
    auth_scheme = "Bearer"
    #: Cache lifetime (docs/caching.rst): Tupli content changes as users
    #: write (and is deleted): no answer is cached.
    cache_ttl = 0.0

    # -- accounts ----------------------------------------------------------------------

    def login(self, username: str | None = None, *deprecated_password: str, token: str | None = None,
              store_password: bool = False, reenter_password: bool = False, store_token: bool = True,
              password: str | None = None, persist: bool | None = None) -> bool:
        """Log in with a user name and password, or with a token.

        In order: ``token=``; ``ASTROQUERY_EXT_TUPLI_TOKEN`` (when no
        ``username`` is given); the login stored by an earlier
        ``login(..., store_token=True)`` (keyring, else a 0600 file) in this
        process or another, of ``username``, else of the user who logged in
        last, if usable (not expired and not due for renewal, else renewed with
        its refresh token); otherwise the password of ``username`` from
        ``ASTROQUERY_EXT_TUPLI_PASSWORD``, the keyring, or a prompt on a
        terminal. The order is the same for every service (docs/login.rst).

        Parameters
        ----------
        username : str, optional
            Default: ``ASTROQUERY_EXT_TUPLI_USERNAME``, then ``conf.username``,
            then the user whose login was stored last, then a prompt on a terminal.
        token : str, optional
            An access token obtained elsewhere (no request is made; not stored, not renewed).
        store_password : bool
            Keep the password in the keyring after a successful login.
        reenter_password : bool
            Ignore a stored password and stored login: ask for the password again.
        store_token : bool
            Keep the tokens (keyring, else a 0600 file) so that later sessions
            and other processes reuse and renew them instead of logging in again.
        password : str, optional
            Deprecated (a password in code ends up in notebooks and shell
            history): set ``ASTROQUERY_EXT_TUPLI_PASSWORD``, keep it in the
            keyring with ``store_password=True``, or type it at the prompt.
            Still used, with an `~astropy.utils.exceptions.AstropyDeprecationWarning`;
            so is a password given as second positional argument.
        persist : bool, optional
            Deprecated name of ``store_token``.

        Returns
        -------
        bool
            True.

        Other Parameters
        ----------------
        *deprecated_password : str
            Deprecated: the password as second positional argument (see ``password``).

        Raises
        ------
        LoginError
            No usable credentials, or the server refused them.
        """
        if deprecated_password:
            if len(deprecated_password) > 1 or password is not None:
                raise TypeError(f"{self.name}.login() takes the user name as its only positional argument")
            password = deprecated_password[0]
        if password is not None:
            warnings.warn(
                f"{self.name}.login(password=...) is deprecated and will be removed: set "
                f"ASTROQUERY_EXT_TUPLI_PASSWORD, keep the password in the keyring with "
                f"login(username, store_password=True), or type it at the prompt",
                AstropyDeprecationWarning, stacklevel=3)
        if persist is not None:
            warnings.warn(f"{self.name}.login(persist=...) is deprecated: use store_token=...",
                          AstropyDeprecationWarning, stacklevel=3)
            store_token = bool(persist)
        return self._log_in(username, token=token, store_token=store_token, reenter_password=reenter_password,
                            store_password=store_password, password=password)

    def _obtain(self, username: str, password: str) -> AuthState:
        """POST access/users/token with the user name and password."""
        answer = self._json("POST", "access/users/token", json={"username": username, "password": password},
                            auth="none")
        try:
            access, refresh = answer["access_token"]["token"], answer["refresh_token"]["token"]
        except (KeyError, TypeError):
            raise LoginError(f"{self.name}: the server's token answer has no access/refresh token; "
                             f"is {self.server} a Tupli server?", service=self.service) from None
        return self._state(access, refresh, username)

    def _state(self, access: str, refresh: str | None, username: str, extra: Mapping | None = None) -> AuthState:
        return AuthState(token=access, scheme=self.auth_scheme, principal=username,
                         expires_at=jwt_expiry(access), refresh_token=refresh,
                         extra=dict(extra or {}, refresh_expires_at=jwt_expiry(refresh)))

    def _refresh(self, state: AuthState) -> AuthState | None:
        # The refresh endpoint while the refresh token lives; else a new login with the password at hand.
        expires = state.extra.get("refresh_expires_at")
        if not state.refresh_token or (expires is not None and expires <= time.time()):
            return super()._refresh(state)
        try:
            answer = self._json("POST", "access/users/refresh-token", auth="none", idempotent=True,
                                headers={"Authorization": f"Bearer {state.refresh_token}"}, follow_redirects=False)
        except LoginError:
            return super()._refresh(state)
        # pytupli 1.2.9 answers {"token": ...}; accept the wrapped form too.
        token = (answer or {}).get("token") or ((answer or {}).get("access_token") or {}).get("token")
        if not token:
            return None
        return self._state(token, state.refresh_token, state.principal, state.extra)

    def signup(self, username: str, password: str | None = None) -> Table:
        """Create a user account.

        Servers in open-signup mode let anyone sign up; others need an admin
        logged in.

        Parameters
        ----------
        username : str
            The new user's name.
        password : str, optional
            The new user's password; default ``ASTROQUERY_EXT_TUPLI_PASSWORD``,
            else a prompt on a terminal.

        Returns
        -------
        `~astropy.table.Table`
            One row, the columns of `list_users` (``username``, ``groups``, ``memberships``).
        """
        text_arg(username, "username", exact=True)
        password = self.credentials.resolve("password", password, account=username, use_store=False)
        record = self._json("POST", "access/users/create", json={"username": username, "password": password})
        return self._one(record, USER_FIELDS, "access/users/create")

    @shared_doc(sections=list_sections("``username``, ``groups``, ``memberships``", "user", filtered=False))
    def list_users(self, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """All users with their explicit group memberships (needs a login).

        {sections}
        """
        records = self._json("GET", "access/users/list", auth="required", cache=cache,
                             get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return records
        return self._table(records, USER_FIELDS, path="access/users/list", what="users")

    def change_password(self, username: str, password: str | None = None) -> None:
        """Set a new password for ``username`` (yourself, or anyone as admin).

        A password stored in the keyring for that user is updated.

        Parameters
        ----------
        username : str
            Whose password.
        password : str, optional
            The new password; without it you are asked on a terminal (twice).

        Raises
        ------
        ValueError
            No password given and no terminal to ask on, or the two typed differ.
        """
        text_arg(username, "username", exact=True)
        if password is None:
            if not self.credentials.interactive():
                raise ValueError("change_password: pass the new password (standard input is not a terminal)")
            password = getpass.getpass(f"new tupli password for {username}: ")
            if password != getpass.getpass("again: "):
                raise ValueError("change_password: the two passwords differ; nothing was changed")
        if not isinstance(password, str) or not password:
            raise ValueError("password must be a non-empty string")
        self._json("PUT", "access/users/change-password", json={"username": username, "password": password},
                   auth="required")
        if self.store.get(username) is not None:
            self.store.set(username, password)
        self._password_changed(username, password)

    def delete_user(self, username: str) -> None:
        """Delete a user (yourself, or anyone as admin) and their private content.

        Deleting yourself also logs out; the stored login and password of the
        deleted user are forgotten.

        Parameters
        ----------
        username : str
            Whom to delete.
        """
        text_arg(username, "username", exact=True)
        self._json("DELETE", "access/users/delete", params={"username": username}, auth="required")
        if self.whoami() == username:
            self.logout()
        self._forget_user(username)

    # -- groups and roles -------------------------------------------------------------------

    @staticmethod
    def _check_group(group: Any, argument: str = "group", allow_global: bool = False) -> str:
        text_arg(group, argument, exact=True)
        if group == "global" and not allow_global:
            raise ValueError(f"{argument}: 'global' is the server-wide scope, not a group you may create "
                             f"or delete (on pytupli's server, deleting a group named 'global' strips every "
                             f"user's global roles, the admin's included)")
        return group

    def create_group(self, name: str, description: str | None = None) -> Table:
        """Create a group; you become its ``group_admin`` and ``contributor``.

        Parameters
        ----------
        name : str
            The group's name (not ``global``, the server-wide scope).
        description : str, optional
            What the group is for.

        Returns
        -------
        `~astropy.table.Table`
            The group as the server stored it, one row (``name``, ``description``, ``members``).
        """
        self._check_group(name, "name")
        optional_str_arg(description, "description")
        record = self._json("POST", "access/groups/create", json={"name": name, "description": description},
                            auth="required")
        return self._one(record, GROUP_MEMBER_FIELDS, "access/groups/create")

    @shared_doc(sections=list_sections("``name``, ``description``", "group", filtered=False))
    def list_groups(self, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """Groups on the server (pytupli's server lists every group).

        {sections}
        """
        records = self._json("GET", "access/groups/list", auth="optional", cache=cache,
                             get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return records
        return self._table(records, GROUP_FIELDS, path="access/groups/list", what="groups")

    def read_group(self, name: str) -> Table:
        """One group as a one-row Table: ``name``, ``description``, ``members`` (``[{user, roles}]``).

        Parameters
        ----------
        name : str
            The group's name.

        Returns
        -------
        `~astropy.table.Table`
            One row: the group with its members and their roles.
        """
        self._check_group(name, "name")
        record = self._json("GET", "access/groups/read", params={"group_name": name}, auth="required")
        return self._one(record, GROUP_MEMBER_FIELDS, "access/groups/read")

    def delete_group(self, name: str) -> None:
        """Delete a group and everyone's membership in it (items keep it in ``published_in``).

        Parameters
        ----------
        name : str
            The group's name.
        """
        self._check_group(name, "name")
        self._json("DELETE", "access/groups/delete", params={"group_name": name}, auth="required")

    def add_group_members(self, group: str, members: Mapping[str, str | Sequence[str]]) -> Table:
        """Give users roles in a group: ``{"bob": "member", "carol": ["member", "contributor"]}``.

        Parameters
        ----------
        group : str
            The group's name.
        members : dict
            A role name or a list of role names per user name. A user's
            roles in the group are replaced, not merged.

        Returns
        -------
        `~astropy.table.Table`
            One row, as `read_group`: the group with its members.
        """
        self._check_group(group)
        if not isinstance(members, Mapping) or not members:
            raise ValueError("members must be a non-empty dict {user: role or [roles]}")
        body = []
        for user, roles in members.items():
            text_arg(user, "user name in members", exact=True)
            roles = [roles] if isinstance(roles, str) else roles
            if not isinstance(roles, (list, tuple)) or not roles:
                raise ValueError(f"members[{user!r}] must be a role name or a non-empty list of them "
                                 f"(to take a user out of the group, use remove_group_members)")
            body.append({"user": user, "roles": [text_arg(r, f"role of {user!r}", exact=True) for r in roles]})
        record = self._json("POST", "access/groups/add-members", json={"group_name": group, "members": body},
                            auth="required")
        return self._one(record, GROUP_MEMBER_FIELDS, "access/groups/add-members")

    def remove_group_members(self, group: str, users: str | Iterable[str]) -> Table:
        """Take users out of a group.

        Parameters
        ----------
        group : str
            The group's name.
        users : str or iterable of str
            The user names.

        Returns
        -------
        `~astropy.table.Table`
            One row, as `read_group`: the group with its remaining members.
        """
        self._check_group(group)
        users = [users] if isinstance(users, str) else list(users)
        if not users:
            raise ValueError("users must name at least one user")
        body = [{"user": text_arg(u, "user name", exact=True)} for u in users]
        record = self._json("POST", "access/groups/remove-members", json={"group_name": group, "members": body},
                            auth="required")
        return self._one(record, GROUP_MEMBER_FIELDS, "access/groups/remove-members")

    @shared_doc(sections=list_sections("``role``, ``rights``, ``description``", "role", filtered=False))
    def list_roles(self, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """Roles and their rights (admin only on pytupli's server).

        {sections}
        """
        records = self._json("GET", "access/roles/list", auth="required", cache=cache,
                             get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return records
        return self._table(records, ROLE_FIELDS, path="access/roles/list", what="roles")

    def create_role(self, name: str, rights: Iterable[str], description: str | None = None) -> Table:
        """Create a role with the given rights (admin only).

        Parameters
        ----------
        name : str
            The role's name.
        rights : str or iterable of str
            Rights from `RIGHTS` (``"benchmark_read"``, ``"episode_create"``...).
        description : str, optional
            What the role is for.

        Returns
        -------
        `~astropy.table.Table`
            One row, the columns of `list_roles`: the role as the server stored it.
        """
        text_arg(name, "name", exact=True)
        optional_str_arg(description, "description")
        rights = [rights] if isinstance(rights, str) else list(rights)
        bad = [r for r in rights if not isinstance(r, str) or r.lower() not in RIGHTS]
        if bad or not rights:
            raise ValueError(f"rights must be a non-empty list of {list(RIGHTS)}; "
                             f"not allowed: {bad}" if bad else "rights must not be empty")
        record = self._json("POST", "access/roles/create", auth="required",
                            json={"role": name, "rights": [r.lower() for r in rights], "description": description})
        return self._one(record, ROLE_FIELDS, "access/roles/create")

    def delete_role(self, name: str) -> None:
        """Delete a role and take it from every membership (admin only).

        Parameters
        ----------
        name : str
            The role's name.
        """
        text_arg(name, "name", exact=True)
        self._json("DELETE", "access/roles/delete", params={"role_name": name}, auth="required")

    # -- shared content operations ----------------------------------------------------------

    def _one(self, record: Mapping, fields, path: str) -> Table:
        """The record a one-record call answered, as a one-row Table (the columns of the listing)."""
        return self._table([record], fields, path=path, what="records", warn_empty=False)

    def _list(self, kind: str, filter, fields, *, cache, extra: Mapping | None = None,
              get_query_payload: bool = False):
        body = dict(Filter.coerce(filter) or {})
        body.update(extra or {})
        path = f"{kind}/list"
        records = self._json("POST", path, json=body, auth="optional", idempotent=True,
                             cache=cache, get_query_payload=get_query_payload, expect=RECORDS)
        if get_query_payload:
            return records
        return records, {"filter": body or None}

    def _publish(self, kind: str, item_id: str, group: str, publish: bool) -> None:
        what = kind[:-1]
        id_arg(item_id, f"{what}_id")
        self._check_group(group, "group", allow_global=True)
        action, key = ("publish", "publish_in") if publish else ("unpublish", "unpublish_from")
        self._json("PUT", f"{kind}/{action}", params={f"{what}_id": item_id, key: group}, auth="required")

    def _delete(self, kind: str, item_id: str) -> None:
        what = kind[:-1]
        id_arg(item_id, f"{what}_id")
        self._json("DELETE", f"{kind}/delete", params={f"{what}_id": item_id}, auth="required")

    # -- benchmarks ----------------------------------------------------------------------

    def store_benchmark(self, serialized: str, metadata: Mapping, *, hash: str | None = None,
                        get_query_payload: bool = False) -> Table:
        """Store a benchmark; returns its header as a one-row Table (the columns of `list_benchmarks`).

        Parameters
        ----------
        serialized : str
            The environment, serialized (pytupli uses jsonpickle; any text is kept as is).
        metadata : dict
            ``name`` (required), ``description``, ``difficulty``, ``version``, ``extra`` (a dict).
        hash : str, optional
            Default: `benchmark_hash` (pytupli's rule). The server refuses a
            second benchmark with the same hash from the same user (or in
            ``global``): a `~astroquery_ext.exceptions.ConflictError` naming the
            existing benchmark's id.
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row, the columns of `list_benchmarks`: the stored benchmark's
            header (``id``, ``hash``, ``name``, ``created_by``...); its id is
            ``table["id"][0]``.
        """
        if not isinstance(serialized, str):
            raise TypeError(f"serialized must be a str; got {type(serialized).__name__}")
        full, _ = benchmark_metadata(metadata)
        if hash is None:
            hash = benchmark_hash(serialized, metadata)
        elif not isinstance(hash, str) or not hash:
            raise ValueError("hash must be a non-empty string")
        body = {"hash": hash, "serialized": serialized, "metadata": full}
        if get_query_payload:
            return self._json("POST", "benchmarks/create", json=body, get_query_payload=True)
        try:
            record = self._json("POST", "benchmarks/create", json=body, auth="required")
        except ConflictError as exc:
            raise self._conflict(exc, hash) from None
        return self._one(record, BENCHMARK_FIELDS, "benchmarks/create")

    def _conflict(self, exc: ConflictError, hash: str) -> ConflictError:
        try:
            found = self._json("POST", "benchmarks/list", json={"type": "EQ", "key": "hash", "value": hash},
                               auth="optional", idempotent=True)
        except AstroqueryExtError:
            found = []
        if found:
            first = found[0]
            where = (f"it is stored as id {first['id']} (name {first.get('metadata', {}).get('name')!r}, "
                     f"by {first.get('created_by')})")
        else:
            where = "the existing benchmark is not visible to you"
        error = ConflictError(f"{self.name}: a benchmark with hash {hash} already exists: {where}. Use it "
                              f"(load_benchmark), delete it first, or store with another hash.",
                              status=409, detail=exc.detail, url=exc.url, service=self.service)
        error.existing = found[0] if found else None
        return error

    @shared_doc(parameters=item_parameters("benchmark", NOT_CACHED_DOC))
    def load_benchmark(self, benchmark_id: str, *, cache: bool = True) -> Table:
        """One benchmark as a one-row Table: the columns of `list_benchmarks` plus ``serialized``.

        {parameters}

        Returns
        -------
        `~astropy.table.Table`
            One row: the columns of `list_benchmarks` (``id``, ``name``,
            ``hash``, ``created_by``...) and ``serialized``.
        """
        id_arg(benchmark_id, "benchmark_id")
        record = self._json("GET", "benchmarks/load", params={"benchmark_id": benchmark_id}, cache=cache,
                            expect=object_with("id"))
        return self._one(record, LOADED_BENCHMARK_FIELDS, "benchmarks/load")

    @shared_doc(sections=list_sections("``id``, ``name``, ``description``, ``difficulty``, ``version``...",
                                        "benchmark"))
    def list_benchmarks(self, filter: Filter | Mapping | None = None, *, cache: bool = True,
                        get_query_payload: bool = False) -> Table:
        """Benchmarks you can see, optionally filtered (`Filter` keys: ``metadata.name``, ``hash``...).

        {sections}
        """
        out = self._list("benchmarks", filter, BENCHMARK_FIELDS, cache=cache, get_query_payload=get_query_payload)
        if get_query_payload:
            return out
        records, query = out
        return self._table(records, BENCHMARK_FIELDS, path="benchmarks/list", what="benchmarks", query=query)

    @shared_doc(parameters=item_parameters("benchmark"))
    def delete_benchmark(self, benchmark_id: str) -> None:
        """Delete a benchmark (not its episodes or artifacts). A missing id is not an error on the server.

        {parameters}
        """
        self._delete("benchmarks", benchmark_id)

    @shared_doc(parameters=item_parameters("benchmark", PUBLISH_TO))
    def publish_benchmark(self, benchmark_id: str, group: str = "global") -> None:
        """Let a group (default everyone: ``global``) read your benchmark.

        {parameters}
        """
        self._publish("benchmarks", benchmark_id, group, True)

    @shared_doc(parameters=item_parameters("benchmark", UNPUBLISH_FROM))
    def unpublish_benchmark(self, benchmark_id: str, group: str) -> None:
        """Take a benchmark back from a group (needs ``benchmark_delete`` in that group).

        {parameters}
        """
        self._publish("benchmarks", benchmark_id, group, False)

    # -- artifacts -------------------------------------------------------------------------

    def store_artifact(self, data: Any, metadata: Mapping | None = None) -> Table:
        """Upload an artifact; returns its record as a one-row Table (the columns of `list_artifacts`).

        Parameters
        ----------
        data : bytes, path or binary file object
            What to store. A path or a file object is streamed, never read whole.
        metadata : dict, optional
            ``name`` (default: the file's name), ``description``,
            ``benchmark_id``, ``extra`` (a dict). Latin-1 text only: the server
            cannot send other characters back.

        Returns
        -------
        `~astropy.table.Table`
            One row, the columns of `list_artifacts`: the stored artifact's
            record (``id``, ``hash``, ``name``, ``created_by``...).

        Notes
        -----
        The server deduplicates: the same bytes uploaded again by the same
        user return the existing record (and ignore the new metadata). So an
        upload whose answer was lost (connection reset, timeout, cut-off
        answer) or that met HTTP 429/502/503/504 is sent again, up to
        ``max_retries`` times, without ever storing the artifact twice.
        """
        source = UploadSource(data)
        given = as_metadata_dict(metadata if metadata is not None else {}, "metadata")
        unknown = sorted(set(given) - set(ARTIFACT_KEYS))
        if unknown:
            raise ValueError(f"unknown artifact metadata keys {unknown}; allowed: {list(ARTIFACT_KEYS)} "
                             f"(put anything else under 'extra')")
        name = given.get("name", source.name)
        if name is None:
            raise ValueError("artifact metadata needs a 'name' (it names the file on download)")
        meta = {"name": text_arg(name, "metadata['name']", exact=True),
                "description": given.get("description", "") or "",
                "benchmark_id": (None if given.get("benchmark_id") is None
                                 else id_arg(given["benchmark_id"], "metadata['benchmark_id']")),
                "extra": jsonable_dict(given.get("extra"), "metadata['extra']")}
        if not isinstance(meta["description"], str):
            raise TypeError("metadata['description'] must be a string")
        text = json.dumps(meta, ensure_ascii=False, allow_nan=False)
        check_latin1(text, "artifact metadata")
        if len(text.encode()) >= METADATA_LIMIT:
            raise ValueError("artifact metadata is larger than the server's 1 MiB limit; store large "
                             "values as an artifact of their own")
        chunk = int(self.conf.upload_chunk_size)
        boundary = new_boundary()
        # A body factory: the base's retry policy (and a renewal on 401) sends a
        # fresh streamed body per attempt. Repeating is safe: the server files
        # an artifact under the hash of its bytes and its owner, and answers a
        # second upload of the same bytes by the same user with the stored record.
        response = self._http("POST", "artifacts/upload", auth="required", idempotent=True,
                              data=lambda: MultipartBody({"metadata": text}, "data", source, chunk, boundary),
                              headers={"Content-Type": multipart_content_type(boundary)})
        return self._one(response.json(), ARTIFACT_FIELDS, "artifacts/upload")

    def load_artifact(self, artifact_id: str, path: str | os.PathLike | None = None, *,
                      overwrite: bool = False) -> bytes | Path:
        """An artifact's bytes, or the path it was written to.

        The bytes are checked against the hash the server keeps for the
        artifact (sent with the download): a cut-off or altered body is
        refused, never returned or written.

        Parameters
        ----------
        artifact_id : str
            The artifact's id.
        path : path-like, optional
            A file to write (streamed to ``<path>.part``, renamed when
            complete), or an existing directory (the file name the uploader
            gave, reduced to a safe base name). Without it the bytes are returned.
        overwrite : bool
            Replace an existing file. Otherwise an existing file is never
            replaced, whoever chose its name: `FileExistsError`, unless it
            already holds exactly this artifact (then its path is returned).

        Returns
        -------
        bytes or `~pathlib.Path`
            The bytes without ``path``; else the path of the file written.

        Raises
        ------
        FileExistsError
            The file exists, is not this artifact, and ``overwrite`` is False.
        `~astroquery_ext.exceptions.NotFoundError`
            No such artifact (or not visible to you).
        `~astroquery_ext.exceptions.DownloadError`
            The transfer broke, or the bytes do not match the artifact's hash.
        """
        id_arg(artifact_id, "artifact_id")
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite must be True or False; got {overwrite!r}")
        # pytupli's server closes the connection after each download: never reuse it.
        headers = {"Connection": "close"}
        if path is None:
            response = self._http("GET", "artifacts/download", params={"artifact_id": artifact_id},
                                  headers=headers)
            data = response.content
            expected = artifact_expectation(response.headers)
            if "sha256" in expected and \
                    hashlib.sha256(data + expected["sha256_suffix"]).hexdigest() != expected["sha256"]:
                raise DownloadError(f"{self.name}: artifact {artifact_id}: received {len(data)} bytes that do "
                                    f"not match the artifact's hash (cut off or altered on the way). "
                                    f"Try again.", url=self._url("artifacts/download"), service=self.service)
            return data
        path = Path(path)
        directory, name = (path, None) if path.is_dir() else (path.parent, path.name)
        if name is not None and os.path.lexists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        if not directory.is_dir():
            raise ValueError(f"path: directory {str(directory)!r} does not exist")
        job = DownloadJob(url=f"artifacts/download?artifact_id={artifact_id}", directory=directory, name=name,
                          headers=headers, key=artifact_id, expect=artifact_expectation)
        # Errors keep their class (NotFoundError, LoginError...) from the base.
        return download_file(self, job, overwrite=overwrite).path

    @shared_doc(sections=list_sections("``id``, ``name``, ``description``, ``benchmark_id``, ``hash``...",
                                        "artifact"))
    def list_artifacts(self, filter: Filter | Mapping | None = None, *, cache: bool = True,
                       get_query_payload: bool = False) -> Table:
        """Artifacts you can see. `Filter` keys are relative to the metadata: ``name``, ``extra.kind``...

        {sections}
        """
        out = self._list("artifacts", filter, ARTIFACT_FIELDS, cache=cache, get_query_payload=get_query_payload)
        if get_query_payload:
            return out
        records, query = out
        return self._table(records, ARTIFACT_FIELDS, path="artifacts/list", what="artifacts", query=query)

    @shared_doc(parameters=item_parameters("artifact"))
    def delete_artifact(self, artifact_id: str) -> None:
        """Delete an artifact. A missing id is not an error on the server.

        {parameters}
        """
        self._delete("artifacts", artifact_id)

    @shared_doc(parameters=item_parameters("artifact", PUBLISH_TO))
    def publish_artifact(self, artifact_id: str, group: str = "global") -> None:
        """Let a group (default ``global``) read your artifact.

        {parameters}
        """
        self._publish("artifacts", artifact_id, group, True)

    @shared_doc(parameters=item_parameters("artifact", UNPUBLISH_FROM))
    def unpublish_artifact(self, artifact_id: str, group: str) -> None:
        """Take an artifact back from a group.

        {parameters}
        """
        self._publish("artifacts", artifact_id, group, False)

    # -- episodes ---------------------------------------------------------------------------

    def record_episode(self, benchmark_id: str, tuples: Any, metadata: Mapping | None = None, *,
                       get_query_payload: bool = False) -> Table:
        """Record one episode of a benchmark.

        Parameters
        ----------
        benchmark_id : str
            The benchmark's id.
        tuples : Table, dict of arrays, or list of dicts
            One row (or list entry) per step, with ``state``, ``action``,
            ``reward`` and optionally ``terminal``, ``timeout`` (bools) and
            ``info`` (dicts). At least one step.
        metadata : dict, optional
            Anything JSON can hold, stored with the episode.
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table` or dict
            The episode's header as one row, the columns of
            `record_episodes` (``id``, ``n_tuples``, ``terminated``...).
            With ``get_query_payload=True``: the request, nothing sent.
        """
        data = self._episode_body(benchmark_id, tuples, metadata)
        if get_query_payload:
            return self._json("POST", "episodes/record", json=json.loads(data), get_query_payload=True)
        return self._table([self._post_episode(data)], EPISODE_FIELDS, path="episodes/record", what="episodes",
                           query={"benchmark_id": benchmark_id, "n": 1})

    def record_episodes(self, benchmark_id: str, episodes: Sequence[Any],
                        metadata: Mapping | Sequence[Mapping] | None = None, *,
                        max_workers: int | None = None) -> Table:
        """Record many episodes of one benchmark, several at once; returns a Table of their headers.

        Every episode is checked before any is sent. ``metadata`` is one dict
        for all, or one per episode. If some fail, the others are still
        recorded and one error says which were recorded, which were refused
        (an error answer: not recorded, safe to send again) and which may or
        may not have been (the answer was lost: recording is not idempotent,
        so they are never sent twice; look for them before sending them
        again). HTTP 429 is waited out and repeated: the server did not act.

        Parameters
        ----------
        benchmark_id : str
            The benchmark's id.
        episodes : sequence
            The episodes, each as `record_episode` takes ``tuples``.
        metadata : dict or sequence of dict, optional
            One dict for all episodes, or one per episode.
        max_workers : int, optional
            Requests in flight at once; default ``conf.max_workers``.

        Returns
        -------
        `~astropy.table.Table`
            One row per episode, in the order given: ``id``,
            ``benchmark_id``, ``n_tuples``, ``terminated``, ``timeout``,
            ``metadata``...

        Raises
        ------
        ~astroquery_ext.exceptions.AstroqueryExtError
            Some episodes failed (the class of the first failure); its
            ``.results`` holds each episode's header or error, its ``.table``
            the recorded episodes' rows (``.table.meta["failed"]``: the
            positions of the others in ``episodes``).
        """
        bodies = self._episode_bodies(benchmark_id, episodes, metadata)
        workers = check_max_workers(self.conf.max_workers if max_workers is None else max_workers,
                                    self.max_workers_limit)
        self._login_once()

        def one(data: bytes):
            try:
                return self._post_episode(data)
            except AstroqueryExtError as exc:
                return exc

        results = bounded_map(one, bodies, max_workers=workers)
        failed = [(i, r) for i, r in enumerate(results) if isinstance(r, Exception)]
        if failed:
            raise self._episodes_error(results, failed, benchmark_id)
        return self._table(results, EPISODE_FIELDS, path="episodes/record", what="episodes",
                           query={"benchmark_id": benchmark_id, "n": len(results)})

    @shared_doc(filter=FILTER_DOC, options=LIST_OPTIONS_DOC)
    def list_episodes(self, filter: Filter | Mapping | None = None, include_tuples: bool = False, *,
                      cache: bool = True, get_query_payload: bool = False) -> Table:
        """Episodes you can see (`Filter` keys: ``benchmark_id``, ``metadata.<k>``, ``n_tuples``...).

        Parameters
        ----------
        {filter}
        include_tuples : bool
            Add a ``tuples`` column holding each episode's steps as a Table
            (as `get_episode` gives them).
        {options}

        Returns
        -------
        `~astropy.table.Table` or dict
            ``id``, ``benchmark_id``, ``n_tuples``, ``terminated``...: one
            row per episode. With ``get_query_payload=True``: the request,
            nothing sent.
        """
        if not isinstance(include_tuples, bool):
            raise TypeError("include_tuples must be True or False")
        out = self._list("episodes", filter, EPISODE_FIELDS, cache=cache, get_query_payload=get_query_payload,
                         extra={"include_tuples": include_tuples})
        if get_query_payload:
            return out
        records, query = out
        table = self._table(records, EPISODE_FIELDS, path="episodes/list", what="episodes", query=query)
        if include_tuples:
            column = np.empty(len(records), dtype=object)
            for k, record in enumerate(records):
                column[k] = tuples_table([record], with_episode=False)
            table["tuples"] = column
        return table

    @shared_doc(parameters=item_parameters("episode", NOT_CACHED_DOC))
    def get_episode(self, episode_id: str, *, cache: bool = True, get_query_payload: bool = False) -> Table:
        """The steps of one episode as a Table; its header is in ``table.meta["header"]`` (JSON text).

        {parameters}
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row per step: ``state``, ``action``, ``reward`` (numeric
            arrays when every step has the same shape), ``terminal``,
            ``timeout``, ``info``.

        Raises
        ------
        `~astroquery_ext.exceptions.NotFoundError`
            No episode with this id is visible to you.
        """
        episode_id = id_arg(episode_id, "episode_id")
        out = self._list("episodes", Filter("id") == episode_id, EPISODE_FIELDS, cache=cache,
                         extra={"include_tuples": True}, get_query_payload=get_query_payload)
        if get_query_payload:
            return out
        records, _ = out
        if not records:
            raise NotFoundError(f"{self.name}: no episode {episode_id} is visible to you (it does not exist, "
                                f"or it is private to another user). Check the id, or log in as its owner.",
                                status=None, service=self.service)
        table = as_result(tuples_table(records, with_episode=False))
        header = {k: v for k, v in records[0].items() if k != "tuples"}
        table.meta.update(self._provenance("episodes/list", header=header))
        return table

    @shared_doc(filter=FILTER_DOC, cache=NOT_CACHED_DOC)
    def get_tuples(self, filter: Filter | Mapping | None = None, *, cache: bool = True,
                   get_query_payload: bool = False) -> Table:
        """The steps of every matching episode in one Table.

        Parameters
        ----------
        {filter}
        {cache}
        get_query_payload : bool
            Return the request instead of sending it.

        Returns
        -------
        `~astropy.table.Table`
            One row per step: ``episode_id``, ``step``, then the columns
            `get_episode` has.

        Examples
        --------
        >>> from astroquery_ext.tupli import Filter, Tupli
        >>> steps = Tupli.get_tuples(Filter("benchmark_id") == benchmark_id)  # doctest: +SKIP
        >>> steps.group_by("episode_id")  # doctest: +SKIP
        """
        if get_query_payload:
            return self._list("episodes", filter, EPISODE_FIELDS, cache=cache, extra={"include_tuples": True},
                              get_query_payload=True)
        with gc_paused():
            records, query = self._list("episodes", filter, EPISODE_FIELDS, cache=cache,
                                        extra={"include_tuples": True})
            table = as_result(tuples_table(records, with_episode=True))
        table.meta.update(self._provenance("episodes/list", query, episodes=len(records)))
        if not len(table):
            warn_if_empty(table, "episode tuples")
        return table

    @shared_doc(parameters=item_parameters("episode"))
    def delete_episode(self, episode_id: str) -> None:
        """Delete an episode. A missing id is not an error on the server.

        {parameters}
        """
        self._delete("episodes", episode_id)

    @shared_doc(parameters=item_parameters("episode", PUBLISH_TO))
    def publish_episode(self, episode_id: str, group: str = "global") -> None:
        """Let a group (default ``global``) read your episode.

        {parameters}
        """
        self._publish("episodes", episode_id, group, True)

    @shared_doc(parameters=item_parameters("episode", UNPUBLISH_FROM))
    def unpublish_episode(self, episode_id: str, group: str) -> None:
        """Take an episode back from a group.

        {parameters}
        """
        self._publish("episodes", episode_id, group, False)

    # -- errors --------------------------------------------------------------------------------

    def _error_hint(self, status: int, detail: str) -> str:
        if status == 500 and "latin-1" in (detail or ""):
            return ("The item's metadata has characters outside Latin-1, which pytupli's server cannot put "
                    "in its download header; its owner must store it again with Latin-1 metadata.")
        if status == 403:
            return ("Tupli items are private to their creator until published to a group you belong to "
                    "(or 'global'); publishing needs ownership, unpublishing the *_delete right in that "
                    "group, role management the admin. Log in as a user who may do this.")
        if status == 404 and not self._route_missing(detail):
            return "Check the id or name; it does not exist on this server (or is not visible to you)."
        return super()._error_hint(status, detail)


Tupli = TupliClass()

"""A service class for the sandbox's generic ``testbed`` app: the base's test partner.

It is written the way the four service modules are, so the base's behaviour
is tested through the same calls they make.
"""

from __future__ import annotations

import time
import types
from urllib.parse import quote

from astroquery_ext._base import (
    AuthState, DownloadJob, Field, ServiceQuery, download_many, fetch_cursor_pages, fetch_offset_pages,
    records_to_table, warn_if_empty, warn_truncated)

conf = types.SimpleNamespace(server="http://127.0.0.1:9/api/", timeout=30.0)

ITEM_FIELDS = [
    Field("id", "int64", description="item id"),
    Field("name", "str"),
    Field("value", "float64", unit="mag"),
    Field("flag", "bool"),
    Field("tags", "object"),
]


class TestbedClass(ServiceQuery):
    __test__ = False  # not a pytest test class

    service = "testbed"
    conf = conf
    auth_scheme = "Bearer"

    def login(self, username=None, *, token=None, store_password=False, persist=True):
        if token is not None or (username is None and self._env_token()):
            token = self.credentials.resolve("token", token)
            return self._set_auth(AuthState(token=token, scheme=self.auth_scheme))
        username = self.credentials.resolve("username", username, default=None)
        stored = self._load_session(username) if persist else None
        if stored is not None:
            return self._set_auth(stored)
        password = self.credentials.resolve("password", account=username)
        answer = self._json("POST", "login", data={"username": username, "password": password},
                            auth="none")
        if store_password:
            self.store.set(username, password)
        state = self._state_from(answer, username, persist)
        if persist:
            self._save_session(state)
        return self._set_auth(state)

    def _env_token(self):
        import os
        return os.environ.get("ASTROQUERY_EXT_TESTBED_TOKEN")

    def _state_from(self, answer, username, persist):
        return AuthState(token=answer["access_token"], scheme=self.auth_scheme, principal=username,
                         expires_at=time.time() + float(answer["expires_in"]),
                         refresh_token=answer["refresh_token"], extra={"persist": persist})

    def _refresh(self, state):
        if not state.refresh_token:
            return None
        answer = self._json("POST", "refresh", json={"refresh_token": state.refresh_token}, auth="none")
        return self._state_from(answer, state.principal, state.extra.get("persist", False))

    def _stored_accounts(self, state):
        return [self._session_account(state.principal if state else None)] + \
            ([state.principal] if state and state.principal else [])

    def whoami(self, *, cache=None):
        return self._json("GET", "whoami", auth="required", cache=cache)

    def counters(self):
        return self._json("GET", "counters", auth="none")

    def create_thing(self):
        return self._json("POST", "things", auth="required")

    def status(self, code):
        return self._json("GET", f"status/{code}")

    def query_items(self, *, row_limit=None, page_size=100, max_workers=4, cache=None):
        def fetch(offset, limit):
            page = self._json("GET", "items", params={"offset": offset, "limit": limit},
                              auth="required", cache=cache)
            return page["items"], page["total"]

        records, truncated = fetch_offset_pages(fetch, page_size=page_size, row_limit=row_limit,
                                                max_workers=max_workers)
        if truncated:
            warn_truncated(row_limit, "items")
        table = records_to_table(records, ITEM_FIELDS, meta={"service": self.service})
        return warn_if_empty(table, "items")

    def query_cursor(self, *, row_limit=None):
        records, truncated = fetch_cursor_pages(
            lambda: self._page(self._json("GET", "cursor")),
            lambda url: self._page(self._json("GET", url)), row_limit=row_limit)
        return records_to_table(records, ITEM_FIELDS)

    @staticmethod
    def _page(answer):
        return answer["results"], answer["next"]

    def download_files(self, names, directory, *, max_workers=4, overwrite=False, query="",
                       sizes=None, sha256=None, use_name=True, errors="raise"):
        jobs = [DownloadJob(url=f"files/{quote(n, safe='')}{query}", directory=directory, name=n if use_name else None,
                            expected_size=(sizes or {}).get(n), sha256=(sha256 or {}).get(n), key=n)
                for n in names]
        return download_many(self, jobs, max_workers=max_workers, show_progress=False,
                             overwrite=overwrite, errors=errors)



def fresh_client(sandbox, *, login: bool = False) -> TestbedClass:
    """A testbed client with fast retries, on a sandbox whose faults and request log are cleared."""
    sandbox.set_faults("testbed", [])
    sandbox.clear_request_log("testbed")
    client = TestbedClass(server=sandbox.url("testbed"))
    client.retry_backoff = 0.01
    if login:
        client.login(token=sandbox.credentials("testbed")["token"])
    return client


Testbed = TestbedClass()

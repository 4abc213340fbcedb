"""The columns of the Tupli result tables, and the tuples table builder.

Item tables (benchmarks, artifacts, episodes) share the creator columns;
tuples come back as one row per step, with array columns where every step has
the same shape and number type.
"""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np
from astropy.table import Column, Table

from astroquery_ext._base import Field

__all__ = ["BENCHMARK_FIELDS", "LOADED_BENCHMARK_FIELDS", "ARTIFACT_FIELDS", "EPISODE_FIELDS", "USER_FIELDS",
           "GROUP_FIELDS", "GROUP_MEMBER_FIELDS", "ROLE_FIELDS", "tuples_table"]

_ITEM_FIELDS = [
    Field("created_by", "str", description="user who stored it"),
    Field("created_at", "time", description="when it was stored (server's clock; Tupli gives no time zone)"),
    Field("published_in", "object", description="groups that can read it (the creator's name = private)"),
]
BENCHMARK_FIELDS = [
    Field("id", "str", description="benchmark id"),
    Field("name", "str", source="metadata.name"),
    Field("description", "str", source="metadata.description"),
    Field("difficulty", "str", source="metadata.difficulty"),
    Field("version", "str", source="metadata.version"),
    Field("extra", "object", source=lambda r: (r.get("metadata") or {}).get("extra", {})),
    Field("hash", "str", description="the creator's hash; a second store with the same hash is refused"),
    *_ITEM_FIELDS,
]
ARTIFACT_FIELDS = [
    Field("id", "str", description="artifact id"),
    Field("name", "str"),
    Field("description", "str"),
    Field("benchmark_id", "str"),
    Field("extra", "object", source=lambda r: r.get("extra", {})),
    Field("hash", "str", description="sha256 of the bytes followed by the uploader's name"),
    Field("encoding", "str"),
    *_ITEM_FIELDS,
]
EPISODE_FIELDS = [
    Field("id", "str", description="episode id"),
    Field("benchmark_id", "str"),
    Field("n_tuples", "int64", description="number of steps"),
    Field("terminated", "bool", description="the last step was terminal"),
    Field("timeout", "bool", description="the last step timed out"),
    Field("metadata", "object", source=lambda r: r.get("metadata", {})),
    *_ITEM_FIELDS,
]
USER_FIELDS = [
    Field("username", "str"),
    Field("groups", "str", source=lambda r: ", ".join(
        f"{m.get('group')}:{'+'.join(m.get('roles') or [])}" for m in r.get("memberships") or []),
        description="explicit memberships as group:role+role"),
    Field("memberships", "object", source=lambda r: r.get("memberships") or []),
]
LOADED_BENCHMARK_FIELDS = [*BENCHMARK_FIELDS, Field("serialized", "str", description="the environment, as stored")]
GROUP_FIELDS = [Field("name", "str"), Field("description", "str")]
GROUP_MEMBER_FIELDS = [*GROUP_FIELDS, Field("members", "object", source=lambda r: r.get("members") or [],
                                            description="[{user, roles}] of the group")]
ROLE_FIELDS = [Field("role", "str"), Field("rights", "object", source=lambda r: r.get("rights") or []),
               Field("description", "str")]



def _array_column(name: str, values: list, description: str):
    """Values as a numeric (N, ...) column when they all have one shape and a number type, else objects."""
    if values:
        try:
            array = np.asarray(values)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.dtype.kind in "biuf" and array.shape[0] == len(values):
            if array.dtype.kind in "iu":
                array = array.astype(np.int64, copy=False)
            return Column(array, name=name, description=description)
        data = np.empty(len(values), dtype=object)
        for k, v in enumerate(values):
            data[k] = v
        return Column(data, name=name, description=description)
    return Column(np.zeros(0, dtype=np.float64), name=name, description=description)


def tuples_table(episodes: Sequence[Mapping], with_episode: bool = True) -> Table:
    lists = [episode.get("tuples") or [] for episode in episodes]
    steps_of = list(map(len, lists))
    tuples = [t for items in lists for t in items]
    if with_episode:
        ids = [i for episode, n in zip(episodes, steps_of) for i in itertools.repeat(episode.get("id", ""), n)]
        steps = np.concatenate([np.arange(n) for n in steps_of]) if tuples else np.zeros(0, np.int64)
    state, action, reward, terminal, timeout, info = (
        list(map(dict.get, tuples, itertools.repeat(key), itertools.repeat(default)))
        for key, default in (("state", None), ("action", None), ("reward", None), ("terminal", False),
                             ("timeout", False), ("info", None)))
    terminal, timeout = list(map(bool, terminal)), list(map(bool, timeout))
    info = [v or {} for v in info]
    columns = []
    if with_episode:
        columns += [Column(np.array(ids, dtype=str) if ids else np.array([], dtype="U32"), name="episode_id"),
                    Column(np.array(steps, dtype=np.int64), name="step", description="step within the episode")]
    info_col = np.fromiter(info, dtype=object, count=len(info))
    columns += [_array_column("state", state, "observation before the step"),
                _array_column("action", action, "action taken"),
                _array_column("reward", reward, "reward received"),
                Column(np.array(terminal, dtype=bool), name="terminal", description="episode ended"),
                Column(np.array(timeout, dtype=bool), name="timeout", description="episode was cut off"),
                Column(info_col, name="info", description="the environment's info dict")]
    return Table(columns, copy=False)

"""How `~astroquery_ext.tupli.TupliClass` records episodes: one body each, checked before any
is sent, and one error for a batch with failures that says which episodes are stored, which were
refused and which may or may not have been (recording is not idempotent: never sent twice).

The public calls (`record_episode`, `record_episodes`) stay on the service class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from astropy.table import Table

from astroquery_ext._base import AstroqueryExtError
from astroquery_ext.tupli._wire import episode_json, id_arg, jsonable_dict
from astroquery_ext.tupli.fields import EPISODE_FIELDS

__all__ = ["EpisodesMixin"]


class EpisodesMixin:
    """The machinery behind recording episodes (composed into `~astroquery_ext.tupli.TupliClass`)."""

    def _episode_body(self, benchmark_id: str, tuples: Any, metadata: Mapping | None) -> bytes:
        benchmark_id = id_arg(benchmark_id, "benchmark_id")
        return episode_json(benchmark_id, jsonable_dict(metadata, "metadata"), tuples)

    def _episode_bodies(self, benchmark_id: str, episodes: Sequence[Any],
                        metadata: Mapping | Sequence[Mapping] | None) -> list[bytes]:
        """The bodies of `record_episodes`, every episode checked before any is sent."""
        if isinstance(episodes, (Mapping, Table)) or not isinstance(episodes, Sequence) or not episodes:
            raise ValueError("episodes must be a non-empty list of episodes (each a Table, dict of arrays "
                             "or list of dicts)")
        if metadata is None or isinstance(metadata, Mapping):
            metas = [metadata] * len(episodes)
        else:
            metas = list(metadata)
            if len(metas) != len(episodes):
                raise ValueError(f"metadata has {len(metas)} entries for {len(episodes)} episodes")
        bodies = []
        for i, (tuples, meta) in enumerate(zip(episodes, metas)):
            try:
                bodies.append(self._episode_body(benchmark_id, tuples, meta))
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"episodes[{i}]: {exc}") from None
        return bodies

    def _post_episode(self, data: bytes) -> dict:
        return self._json("POST", "episodes/record", data=data, headers={"Content-Type": "application/json"},
                          auth="required")

    def _episodes_error(self, results: list, failed: list, benchmark_id: str) -> AstroqueryExtError:
        """One error for a batch with failures, saying which episodes are stored, which not, which may be.

        An error answer (``status`` set) means the server did not record the
        episode. Without an answer (connection reset, timeout, cut-off
        answer) the episode may have been recorded: recording is not
        idempotent, so it was not sent again, and the caller must look before
        sending it again.
        """
        def listed(indices):
            return f"{indices[:20]}{' ...' if len(indices) > 20 else ''}"

        stored = [r["id"] for r in results if not isinstance(r, Exception)]
        # Refused: the server itself answered no (4xx, or 503/429: it did not take the request).
        # Unknown: no answer, or a 500/502/504 from the server or a gateway in
        # front of it, which may come after the episode was recorded.
        refused = [(i, e) for i, e in failed if e.status is not None and (e.status < 500 or e.status == 503)]
        unknown = [(i, e) for i, e in failed if not (e.status is not None and (e.status < 500 or e.status == 503))]
        parts = [f"{len(stored)} of {len(results)} episodes were recorded"]
        if refused:
            i, first = refused[0]
            parts.append(f"{len(refused)} were refused and not recorded (episodes {listed([k for k, _ in refused])}; "
                         f"first, episode {i}: {first}); they can be sent again")
        if unknown:
            i, first = unknown[0]
            how = (f"HTTP {first.status} from the server or a gateway in front of it" if first.status is not None
                   else type(first).__name__)
            parts.append(f"{len(unknown)} may or may not have been recorded: their answer was lost or does "
                         f"not say whether they were recorded (episodes {listed([k for k, _ in unknown])}; first, episode {i}: {how}). They "
                         f"were not sent twice; before sending them again, look for them with "
                         f"list_episodes(Filter('benchmark_id') == {benchmark_id!r}), e.g. by a key of their "
                         f"metadata")
        first = (refused or unknown)[0][1]
        error = type(first)("; ".join(parts) + ". Each entry of this error's .results is the recorded episode's "
                            "header or its error.",
                            status=first.status, detail=first.detail, url=first.url, service=self.service)
        error.results = results
        error.table = self._table([r for r in results if not isinstance(r, Exception)], EPISODE_FIELDS,
                                  path="episodes/record", what="episodes",
                                  query={"benchmark_id": benchmark_id, "n": len(results)}, warn_empty=False)
        error.table.meta["failed"] = [i for i, _ in failed]
        return error

"""Light-curve rows are ordered by object, then by mjd, exactly as ``np.lexsort`` orders them, at any size."""

from __future__ import annotations

import numpy as np
import pytest

from astroquery_ext.atlas import _wire


def _rows(rng, n_objects: int, sizes, ties: bool):
    """Ranks of objects in the server's order (each object's rows together, detections then limits) and
    their mjds: sorted within each part, with repeats, NaN, and both zeros when ``ties``."""
    objects = rng.permutation(n_objects)
    ranks, times = [np.zeros(0, np.intp)], [np.zeros(0)]
    for part in range(2):
        for obj in objects:
            k = int(rng.choice(sizes))
            mjd = np.sort(rng.choice([58000.5, 58001.25, 59000.0], k) if ties else 58000 + rng.random(k) * 2000)
            ranks.append(np.full(k, obj))
            times.append(mjd)
    ranks, times = np.concatenate(ranks), np.concatenate(times)
    if ties and len(times):
        times[rng.random(len(times)) < 0.05] = np.nan
        times[rng.random(len(times)) < 0.02] = -0.0
        times[rng.random(len(times)) < 0.02] = 0.0
    return ranks, times


@pytest.mark.parametrize("block", [7, 50, 1000])
@pytest.mark.parametrize("seed", range(6))
def test_the_blocked_sort_is_lexsort(monkeypatch, block, seed):
    monkeypatch.setattr(_wire, "SORT_BLOCK", block)
    rng = np.random.default_rng(seed)
    for n_objects, sizes, ties in [(0, [1], False), (1, [5000], True), (300, [0, 1, 3, 40], True),
                                   (40, [1, 900], False), (2000, [0, 2], True), (3, [1, 2, 3], False)]:
        ranks, times = _rows(rng, n_objects, sizes, ties)
        expected = np.lexsort((times, ranks))
        got = _wire.lexsort_blocked(times, ranks)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), (n_objects, sizes, ties)


def test_a_large_call_is_sorted_in_blocks_and_alike():
    """At the default block size, a 5,000-object light curve (2.5 million rows) sorts as lexsort does."""
    rng = np.random.default_rng(1)
    ranks, times = _rows(rng, 5000, [200, 300], False)
    assert len(ranks) > 4 * _wire.SORT_BLOCK
    assert np.array_equal(_wire.lexsort_blocked(times, ranks), np.lexsort((times, ranks)))

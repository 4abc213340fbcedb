"""ATLAS per-id writes against production's quota (100 requests per hour per user), on the default sandbox.

Evidence: specs/atlas.md §3 (100/hour per user, sliding window, every request counts) and §8 item 1
(writes are one id per request); fixtures/atlas/exchanges/errors.json (the 429 and its Retry-After).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from astroquery_ext.atlas import AtlasClass  # noqa: F401 (imported before any warning is recorded:
from astroquery_ext.sandbox import Sandbox   # importing astroquery routes warnings to its log)
from astroquery_ext.sandbox import _atlas_data

N = 500


def _client(sb):
    client = sb.client("atlas")
    client.login(token=sb.credentials("atlas")["token"], store_token=False)
    return client


def _posts(sb, path):
    return [e for e in sb.request_log("atlas") if e["method"] == "POST" and e["path"].endswith(path)]


def _ids(n_objects):
    # The sandbox's own (deterministic) catalogue: listing the ids over HTTP would cost quota.
    return [o["id"] for o in _atlas_data.Catalogue(0, n_objects, 4, mjd_end=61150.0).objects]


def _record(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def production():
    """The default mode (nothing relaxed), with N objects so that N distinct ids exist."""
    with Sandbox(services={"atlas": {"n_objects": N, "lc_length": 4, "prewarm": False}}) as sb:
        assert sb.mode("atlas") == "production" and sb.info("atlas")["throttle"]["rate"] == 100
        yield sb


def test_500_id_write_says_its_cost_then_returns_at_the_first_429(production):
    sb = production
    ids = _ids(N)
    result, messages = _record(lambda: _client(sb).add_vra_scores(ids, rank=1.0))
    # Before sending: what it costs against the quota.
    assert any("500 id(s) = 500 request(s), one per id" in m and "100 requests per hour" in m
               and "at least 4 h more" in m for m in messages), messages
    # After: which ids were not sent, and when to send them.
    assert any("400 were not sent" in m and "on_rate_limit='wait'" in m for m in messages), messages
    sent = np.asarray(result["sent"], dtype=bool)
    assert len(result) == N and list(result["atlas_id"]) == ids
    assert sent.sum() == 100 and np.all(result["ok"][sent]) and not np.any(result["ok"][~sent])
    assert set(result["status"][~sent].tolist()) <= {0, 429}
    assert all(info.startswith("not sent: hourly quota used up (HTTP 429); send again after 20")
               for info in result["info"][~sent])
    assert 3000 < result.meta["retry_in"][0] <= 3600 and result.meta["retry_at"][0].endswith("Z")
    # Promptly: nothing waited out or repeated; at most one 429 per request in flight.
    posts = _posts(sb, "/vrascores/")
    assert sum(e["status"] == 201 for e in posts) == 100
    assert 1 <= sum(e["status"] == 429 for e in posts) <= 2


def test_small_write_logs_its_cost_and_bad_policy_is_refused_before_sending(caplog):
    with Sandbox(services={"atlas": {"n_objects": 20, "lc_length": 4, "prewarm": False}}) as sb:
        client = _client(sb)
        ids = _ids(20)[:3]
        with pytest.raises(ValueError, match="on_rate_limit must be 'return'.*or 'wait'"):
            client.add_vra_todo(ids, on_rate_limit="later")
        assert sb.request_log("atlas") == []
        with caplog.at_level(logging.INFO, logger="astroquery_ext"):
            result, messages = _record(lambda: client.add_vra_todo(ids))
        assert "vratodo: 3 id(s) = 3 request(s), one per id, against the quota of 100" in caplog.text
        assert not messages and list(result["sent"]) == [True] * 3 and list(result["ok"]) == [True] * 3


def test_unsent_ids_go_through_when_sent_again_after_retry_at():
    # Production's hour, 3 requests in it; the test ends the window (the sandbox's control), not waits.
    with Sandbox(services={"atlas": {"n_objects": 20, "lc_length": 4, "prewarm": False,
                                     "throttle_rate": 3}}) as sb:
        client = _client(sb)
        ids = _ids(20)[:8]
        first, _ = _record(lambda: client.set_detection_list(ids, "eyeball"))
        assert first["sent"].sum() == 3 and first.meta["retry_in"][0] >= 600
        assert sb.control("atlas", "end-throttle-windows") == 1
        again = client.set_detection_list(first[~first["sent"]]["atlas_id"][:3], "eyeball")
        assert list(again["ok"]) == [True] * 3


def test_wait_is_explicit_and_counts_down(capsys):
    with Sandbox(services={"atlas": {"n_objects": 20, "lc_length": 4, "prewarm": False,
                                     "throttle_rate": 3, "throttle_period": 2}}) as sb:
        client = _client(sb)
        ids = _ids(20)[:7]
        result, messages = _record(lambda: client.add_to_custom_list(ids, "vra", on_rate_limit="wait"))
        assert list(result["sent"]) == [True] * 7 and list(result["ok"]) == [True] * 7
        assert not any("not sent" in m for m in messages)
        err = capsys.readouterr().err
        assert "objectgroups: hourly quota used up after" in err and "going on in 00:0" in err
        posts = _posts(sb, "/objectgroups/")
        assert sum(e["status"] == 201 for e in posts) == 7 and sum(e["status"] == 429 for e in posts) >= 1

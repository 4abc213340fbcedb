"""The Tupli sandbox reads its modes as a real deployment reads its environment.

Evidence: specs/tupli.md §2 (OPEN_ACCESS_MODE and OPEN_SIGNUP_MODE are raw strings tested for
truthiness, observed: 'False' and '0' leave the mode on, only '' turns it off) and
specs/tupli_peer_recipe.md ("set them to the empty string to disable; False does not disable").
"""

from __future__ import annotations

import httpx
import pytest

from astroquery_ext.sandbox import Sandbox

BASE = {"bcrypt_rounds": 4, "sample_data": False}


@pytest.mark.parametrize("value, stays_open", [("False", True), ("0", True), ("True", True), ("", False),
                                                (False, False)])
def test_open_access_as_a_deployment_reads_it(value, stays_open):
    with Sandbox(services={"tupli": dict(BASE, open_access=value, open_signup=value)}) as sb:
        assert sb.mode("tupli") == "production"
        assert sb.info("tupli")["open_access"] is stays_open
        with httpx.Client(trust_env=False) as client:
            anonymous = client.post(sb.url("tupli") + "benchmarks/list", json={})
        assert (anonymous.status_code == 200) is stays_open, anonymous.text

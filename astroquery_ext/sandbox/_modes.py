"""The sandbox's two modes: ``production`` (the default) and ``relaxed``.

``production``: every service behaves as the real one does wherever that is
known (throttles, validation, error texts and formats, known server bugs), and
where it is not known, as the more demanding of the possible servers. Code that
passes against it should not fail against the real services for any reason the
sandbox could have shown.

``relaxed``: the same servers with the differences listed in `DIFFERENCES`
switched the lenient way (higher throttles, server bugs off, extra operators).
The project's own tests, docs, demo and benchmarks ask for it by name where they
need it (``Sandbox(..., mode="relaxed")``); nobody gets it by accident.

Each entry of `DIFFERENCES` is one service option whose value differs between
the modes, with the evidence for the production value. An option given
explicitly in ``Sandbox(services={name: {...}})`` wins over both modes.
`FIXED` lists what was brought in line with production for good (no option:
nothing is gained by the lenient form); `UNLIKE` what still differs from the
real services in both modes. ``docs/sandbox.rst`` shows the three tables.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["MODES", "DIFFERENCES", "FIXED", "UNLIKE", "Difference", "options_for", "check_mode"]

MODES = ("production", "relaxed")


@dataclasses.dataclass(frozen=True)
class Difference:
    service: str
    option: str
    production: Any
    relaxed: Any
    what: str
    evidence: str


DIFFERENCES: tuple[Difference, ...] = (
    # -- ATLAS ------------------------------------------------------------------
    Difference("atlas", "throttle_rate", 100, 100_000,
               "requests per hour per non-staff user, all endpoints together; the 101st answers "
               "429 with Retry-After",
               "specs/atlas.md §3 (UserAdminRateThrottle 100/hour); fixtures/atlas/exchanges/errors.json "
               "'throttled (101st request within an hour, non-staff)'"),
    Difference("atlas", "anon_throttle_rate", 10, 1000,
               "auth-token/ requests per hour per client address",
               "specs/atlas.md §3 (AnonRateThrottle 10/hour on auth-token/)"),
    Difference("atlas", "null_as_absent", False, True,
               "a JSON null on an optional field: 400 {\"<field>\": [\"This field may not be null.\"]} "
               "(relaxed: taken as absent)",
               "DRF serializers (allow_null=False is the default of every field of the server's "
               "serializers, psat-server-web ac9f2aec atlasapi/serializers.py)"),
    # -- GRAD300 (production unknown: the more demanding choice) ------------------
    Difference("grad300", "test_token_get", False, True,
               "GET /login/test-token answers 405 (only POST, as in the template the backend forks); "
               "relaxed: GET answers too, as the seed client expects",
               "specs/grad300.md §12 item 2 (GET by the client vs POST in the template: unknown)"),
    Difference("grad300", "content_disposition", "starlette", "quoted",
               "file names with '#' come as RFC 5987 filename*= only (what Starlette's FileResponse "
               "sends); relaxed: the plain quoted filename=\"...\"",
               "specs/grad300.md §6 and §12 item 11 (whether and in which form: unknown)"),
    # -- Glance ---------------------------------------------------------------------
    Difference("glance", "quirks", ["paren_500", "double_decode"], [],
               "known server bugs on: a parenthesis touching a bare token is HTTP 500 (ATGLANCE-8337); "
               "queryString is URL-decoded twice, so values with '+' or '?' never match (ATGLANCE-8333)",
               "specs/glance.md §3.1 (the two tickets)"),
    Difference("glance", "strict_dsl", True, False,
               "operators are case-sensitive and only AND/OR exist: lower-case 'and', upper-case "
               "'CONTAIN' answer 400",
               "fixtures/glance/api.yml (queryString description); specs/glance.md §3.1"),
    Difference("glance", "list_operators", False, True,
               "no 'in [...]' / 'not in [...]': 400",
               "fixtures/glance/api.yml (the operators listed are =, !=, contain, not-contain)"),
    Difference("glance", "api_fields", True, False,
               "a search names only the fields api.yml lists for its endpoint; any other field answers 400 "
               "'Unknown field ...' (e.g. documentation.repositories.label, extraMetadata.notes, the "
               "containers 'groups' or 'phase1'); relaxed: every path of the records",
               "fixtures/glance/api.yml (queryString: 'Field names ... must match the names below exactly', "
               "the searchable fields of each endpoint); specs/glance.md §3.6"),
    Difference("glance", "password_grant", False, True,
               "the OIDC token endpoint refuses grant_type=password for the public clients "
               "(unauthorized_client)",
               "nothing shows the CERN issuer allows it for public clients: the more demanding choice"),
)

#: Behaviour brought in line with production with no option left (evidence in the docs table).
FIXED: tuple[tuple[str, str, str], ...] = (
    ("atlas", "externalxmlist/ takes externalObjects as optional (absent: an empty list)",
     "psat-server-web ac9f2aec atlasapi/serializers.py (ExternalCrossmatchesListSerializer, "
     "required=False, default [])"),
    ("atlas", "a valid ?token= is accepted next to an Authorization header of another scheme",
     "DRF tries TokenAuthentication (None for another scheme), then QueryAuthentication; "
     "specs/atlas.md §2"),
    ("atlas", "float fields take what Python float() takes, as DRF's FloatField does: 'nan', 'inf' and "
     "JSON true/false (1.0/0.0) pass validation; a number beyond float range answers 'Integer value too "
     "large to convert to float'",
     "DRF fields.py FloatField.to_internal_value (float(data), OverflowError -> 'overflow')"),
    ("atlas", "every API answer carries Allow (the view's methods), Vary: Accept, X-Frame-Options: DENY, "
     "X-Content-Type-Options: nosniff, Referrer-Policy: same-origin, Cross-Origin-Opener-Policy: same-origin",
     "DRF APIView.finalize_response; Django SecurityMiddleware and XFrameOptionsMiddleware"),
    ("atlas", "JSON bodies are compact (no blanks after ',' and ':')",
     "DRF JSONRenderer (COMPACT_JSON = True)"),
    ("atlas", "timestamps the API writes (VRA tables, list moves) are whole seconds",
     "the server's MySQL DATETIME columns (no fraction); fixtures/atlas/exchanges/vrascoreslist.json"),
    ("atlas", "auth-token/ authenticates a Basic header first: a malformed one (no credentials, blanks, bad "
     "base64) or one naming no valid user answers 403 {\"detail\": \"Invalid basic header. ...\"} before any "
     "throttle or field check",
     "DRF's default authentication classes on the token view (SessionAuthentication first, so a failure is "
     "403 without WWW-Authenticate), BasicAuthentication.authenticate"),
    ("glance", "no phase0.*Meetings array is null", "fixtures/glance/api.yml (arrays, not nullable); "
     "fixtures/glance/responses (captured record); specs/glance.md"),
    ("glance", "errors are sent as application/json", "fixtures/glance/api.yml (error responses)"),
    ("tupli", "open_access is read as a deployment reads OPEN_ACCESS_MODE: any non-empty string, even "
     "'False', leaves the server open; only '' (or a Python False) closes it",
     "specs/tupli.md §2 (raw strings tested for truthiness; observed); specs/tupli_peer_recipe.md"),
)

#: Where the sandbox differs from the real services in both modes (what a test against it cannot show).
UNLIKE: tuple[tuple[str, str, str], ...] = (
    ("atlas", "objectlist/ honours the newer optional filter fields (vra_gte/lte, rb_pix_gte/lte, ra_gte/lte, "
     "dec_gte/lte, sherlock_class, spec_type); a server at snapshot ac9f2aec ignores them silently "
     "(option list_filters=False does the same)",
     "specs/atlas.md §5.3 (newer server only; which version runs is not known)"),
    ("atlas", "sample data: synthetic objects and light curves (deterministic from the seed); no images, "
     "no Sherlock or TNS lookups behind the crossmatch fields",
     "the sandbox's data module"),
    ("atlas", "request-rate windows live in the sandbox process and start over on Sandbox.reset (the pytest "
     "plugin resets after each test); the real counters are per server process too, but never reset on request",
     "specs/atlas.md §3 (Django local-memory cache)"),
    ("grad300", "scan FITS files are synthesised to the documented layouts (or loaded from your files), "
     "not observations", "specs/grad300.md §6"),
    ("glance", "the login provider approves a browser or device login at once for its test users "
     "(auto_approve), with no CERN single sign-on page, MFA or consent screen",
     "the sandbox's OIDC provider; specs/glance.md §4"),
    ("glance", "records are synthetic (shapes of the captured responses); the catalogue is fixed at start",
     "fixtures/glance/responses"),
    ("tupli", "MongoDB is mongomock (in memory) and artifact bytes are files in the data dir instead of GridFS; "
     "pytupli's own server code runs unchanged on top",
     "specs/tupli_peer_recipe.md"),
    ("all", "served on 127.0.0.1 over HTTP/1.1 by uvicorn (HTTPS only with tls=True, with the sandbox's own CA); "
     "no reverse proxy in front (no proxy headers, body limits or timeouts of a deployment); the extra "
     "/_sandbox/ control routes (info, faults, request log, reset, load) answer without authentication",
     "the sandbox's harness"),
)

RELAXED: dict[str, dict[str, Any]] = {}
PRODUCTION: dict[str, dict[str, Any]] = {}
for _d in DIFFERENCES:
    RELAXED.setdefault(_d.service, {})[_d.option] = _d.relaxed
    PRODUCTION.setdefault(_d.service, {})[_d.option] = _d.production


def check_mode(mode: str, service: str | None = None) -> str:
    if mode not in MODES:
        where = f" for {service}" if service else ""
        raise ValueError(f"unknown sandbox mode {mode!r}{where}; choose 'production' (the default) or 'relaxed'")
    return mode


def options_for(service: str, mode: str, given: dict | None) -> dict:
    """The options a service app is started with: the mode's values, then the ones given."""
    base = RELAXED if check_mode(mode, service) == "relaxed" else PRODUCTION
    return {**base.get(service, {}), **(given or {})}

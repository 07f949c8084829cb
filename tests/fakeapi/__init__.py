"""The test fake API: the product's sample API (`batchsync.sampleapi`) plus everything only tests need,
served over HTTP on 127.0.0.1 from a background thread.

Every sync test talks to it over a real socket; `bench/` imports it by putting `tests/` on its path. It
reuses the product's pieces (items, accounts, the page-number shape, the no-I/O dispatcher design and the
threaded server) and adds the rest here, the key-check service among them. One deterministic inventory is
served in six pagination shapes (page number, offset, cursor, cursor in the body, Link header, next URL)
and by id, behind optional bearer, API key, Basic or OAuth2 auth:

    with SampleApi(Inventory(size=1003)) as api:
        httpx.get(f"{api.url}/inventory/v1/items", params={"per_page": 200})

Switches in `api.settings` make it misbehave reproducibly: `faults` (5xx, 429, hangs, truncated or invalid
bodies, dropped connections), `rate_limit_per_second`, `quota`, `poison` records and `drift`. What it did
is readable afterwards from `api.requests`, `api.faults_injected` and `api.drift_events`.

Two more datasets serve the other kinds of sync: `api.keys` (a `KeyService`) answers batches of product keys
at `/api/keycheck`, for lookup syncs; `api.accounts` (`Accounts`) serves each account's transactions behind
its own token at `/accounts/{id}/transactions`, and a directory at `/accounts`, for fan-out syncs.
"""

from fakeapi.accounts import Accounts
from fakeapi.auth import ApiKeyAuth, AuthRequirement, BasicAuth, BearerAuth, OAuth2Auth
from fakeapi.dataset import Inventory
from fakeapi.drift import Drift
from fakeapi.faults import AlwaysFail, FailNth, FailWhere, FaultOptions, FaultRates, RandomFaults
from fakeapi.keys import KeyService
from fakeapi.limits import Quota
from fakeapi.poison import choose_poison
from fakeapi.requestlog import LoggedRequest
from fakeapi.server import SampleApi, serve
from fakeapi.settings import SampleApiSettings

__all__ = [
    "Accounts",
    "AlwaysFail",
    "ApiKeyAuth",
    "AuthRequirement",
    "BasicAuth",
    "BearerAuth",
    "Drift",
    "FailNth",
    "FailWhere",
    "FaultOptions",
    "FaultRates",
    "Inventory",
    "KeyService",
    "LoggedRequest",
    "OAuth2Auth",
    "Quota",
    "RandomFaults",
    "SampleApi",
    "SampleApiSettings",
    "choose_poison",
    "serve",
]

"""The built-in sample API: a realistic inventory served over HTTP on 127.0.0.1 from a background thread.

`batchsync demo` syncs from it, and the test suite uses it as the fake API every sync test talks to over a
real socket. One deterministic inventory is served in six pagination shapes (page number, offset, cursor,
cursor in the body, Link header, next URL), behind optional bearer, API key, Basic or OAuth2 auth:

    with SampleApi(Inventory(size=1003)) as api:
        httpx.get(f"{api.url}/inventory/v1/items", params={"per_page": 200})
"""

from batchsync.sampleapi.auth import ApiKeyAuth, AuthRequirement, BasicAuth, BearerAuth, OAuth2Auth
from batchsync.sampleapi.dataset import Inventory
from batchsync.sampleapi.requestlog import LoggedRequest
from batchsync.sampleapi.server import SampleApi, serve
from batchsync.sampleapi.settings import SampleApiSettings

__all__ = [
    "ApiKeyAuth",
    "AuthRequirement",
    "BasicAuth",
    "BearerAuth",
    "Inventory",
    "LoggedRequest",
    "OAuth2Auth",
    "SampleApi",
    "SampleApiSettings",
    "serve",
]

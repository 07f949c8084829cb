"""The built-in sample API that `batchsync demo` syncs and `batchsync sample-api` serves on 127.0.0.1.

It answers like Zoho Inventory: a deterministic inventory paged by page number (filtered by
`modified_since`, sorted by `sort=last_modified_time`) and fetched by id (one, or a batch with `item_ids`,
which is what targeted syncs and lookups ask), and each account's transactions behind its own token for
fan-outs (`Accounts`, `/accounts/{id}/transactions`):

    with SampleApi(Inventory(size=1003)) as api:
        httpx.get(f"{api.url}/inventory/v1/items", params={"per_page": 200})

The test suite's fake API (`tests/fakeapi`) builds on these pieces and adds what only tests need: more
pagination shapes, auth, faults, rate limits, poison records, drift, a key-check service and a request log.
"""

from batchsync.sampleapi.accounts import Accounts
from batchsync.sampleapi.inventory import Inventory
from batchsync.sampleapi.server import SampleApi, serve

__all__ = ["Accounts", "Inventory", "SampleApi", "serve"]

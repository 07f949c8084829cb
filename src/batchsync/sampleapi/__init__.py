"""The built-in sample API that `batchsync demo` syncs and `batchsync sample-api` serves on 127.0.0.1: a
deterministic inventory answered like Zoho Inventory (`inventory.py`) and each account's transactions behind
its own token (`accounts.py`), just what the README's walk-throughs use. The test suite's fake API
(`tests/fakeapi`) builds on these pieces and adds what only tests need: more pagination shapes, auth,
faults, rate limits, poison records, drift and a request log."""

from batchsync.sampleapi.accounts import Accounts
from batchsync.sampleapi.inventory import Inventory
from batchsync.sampleapi.server import SampleApi, serve

__all__ = ["Accounts", "Inventory", "SampleApi", "serve"]

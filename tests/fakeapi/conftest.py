"""Fixtures for the fake API's own tests: a fresh 1,003-item inventory served on a free port per test."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator

import httpx
import pytest

from fakeapi import Inventory, SampleApi

SIZE = 1003  # not a multiple of any page size the tests use, so every walk ends on a partial page

# The clients only speak plain HTTP to 127.0.0.1, but httpx.Client loads CA certificates on creation
# (~70 ms); one shared context keeps a fresh client per test cheap.
_TLS_CONTEXT = ssl.create_default_context()


class FakeClock:
    """A monotonic clock the test moves by hand, so token expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def inventory() -> Inventory:
    return Inventory(SIZE, seed=7)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(inventory: Inventory, clock: FakeClock) -> Iterator[SampleApi]:
    with SampleApi(inventory, clock=clock) as running:
        yield running


@pytest.fixture
def client(api: SampleApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=5.0, verify=_TLS_CONTEXT) as http:
        yield http


@pytest.fixture
def connect() -> Iterator[Callable[[str], httpx.Client]]:
    """Opens clients to other servers a test starts itself; closes them afterwards."""
    clients: list[httpx.Client] = []

    def open_client(base_url: str) -> httpx.Client:
        clients.append(httpx.Client(base_url=base_url, timeout=5.0, verify=_TLS_CONTEXT))
        return clients[-1]

    yield open_client
    for opened in clients:
        opened.close()

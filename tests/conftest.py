"""Fixtures shared by the whole suite: the sample API on 127.0.0.1 and a SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchsync.sampleapi import Inventory, SampleApi


@pytest.fixture
def inventory() -> Inventory:
    return Inventory(size=1_000)


@pytest.fixture
def api(inventory: Inventory) -> Iterator[SampleApi]:
    with SampleApi(inventory) as server:
        yield server


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "sync.db"

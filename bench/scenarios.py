"""The scenarios of bench/compare.py (S1–S6), at full and at `--quick` size, and what each one's table
must hold afterwards.

Every contender of a scenario syncs the same data from the same fake API process; the limits are measured
(fetch only, load only) or computed (the latency floor: pages × latency / requests in flight, and for S6
also pages / the API's shared rate limit).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import apiproc
import common

BATCHSYNC, TUNED, DLT, SEED = "batchsync", "batchsync tuned", "dlt", "seed loop"
FETCH, LOAD = "fetch only", "load only"
TUNED_CONCURRENCY = 8
TUNED_DB_BATCH = 5000  # a batch never spans two pages today, so this takes effect only with bigger pages


@dataclass(frozen=True)
class Scenario:
    """One row group of the report: what is synced, from how slow an API, by whom."""

    key: str  # S1, S2, ...
    title: str
    kind: str  # pull | lookup | fanout
    database: str  # sqlite | postgres
    records: int  # items (pull), keys (lookup); a fan-out's come from `accounts`
    contenders: tuple[str, ...]
    page_size: int = 200
    latency: float = 0.0
    rate: float | None = None  # the API's one shared rate limit (requests/s), for S6
    accounts: tuple[str, ...] = ()
    kills: int = 0  # S5: kill -9 this many times before the run that finishes
    measures: str = "time"  # time | rss | duplicates
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.key == "S1":
            return f"S1 {self.database}"
        return f"S4 {self.records:,}" if self.key == "S4" else self.key

    @property
    def pages(self) -> int:
        """Requests a sequential contender must make (lookups: key batches; fan-out: transaction pages)."""
        if self.kind == "lookup":
            return -(-self.records // 50)
        if self.kind == "fanout":
            return len(self.accounts) * self.pages_per_account
        return -(-self.records // self.page_size)

    @property
    def pages_per_account(self) -> int:
        return int(self.notes.get("pages_per_account", "0"))

    def floors(self) -> dict[str, float]:
        """The seconds no contender can beat: all requests one after another, or 8 at a time (and never
        faster than the shared rate limit allows)."""
        if self.latency <= 0 or self.measures != "time":
            return {}
        serial = self.pages * self.latency
        parallel = serial / TUNED_CONCURRENCY
        if self.rate:
            serial, parallel = max(serial, self.pages / self.rate), max(parallel, self.pages / self.rate)
        return {"floor (1 in flight)": serial, f"floor ({TUNED_CONCURRENCY} in flight)": parallel}

    def spec(self, contender: str) -> dict[str, Any]:
        """What the contender's process is told (besides url, database and workdir)."""
        job = {
            BATCHSYNC: "batchsync",
            TUNED: "batchsync",
            DLT: "dlt",
            SEED: "seed",
            FETCH: "fetch",
            LOAD: "load",
        }
        spec: dict[str, Any] = {"job": job[contender], "kind": self.kind, "records": self.records}
        spec |= {"page_size": self.page_size, "rate": self.rate, "keys": self.records}
        if contender == TUNED:
            spec |= {"concurrency": TUNED_CONCURRENCY, "db_batch_size": TUNED_DB_BATCH}
            if self.kind == "fanout":
                spec["fanout_concurrency"] = TUNED_CONCURRENCY
        return spec

    def api(self) -> dict[str, Any]:
        """How the fake API process for this scenario is started."""
        items = self.records if self.kind == "pull" else 1
        keys = self.records if self.kind == "lookup" else 0
        return {
            "items": items,
            "keys": keys,
            "latency": self.latency,
            "rate": self.rate,
            "accounts": list(self.accounts),
        }

    def expected(self) -> dict[str, int]:
        """What the table must hold: rows, distinct keys and the checksum `contenders.table_check` sums."""
        if self.kind == "pull":
            return {"rows": self.records, "keys": self.records, "checksum": stock_sum(self.records)}
        if self.kind == "lookup":
            return {"rows": self.records, "keys": self.records, "checksum": remaining_sum(self.records)}
        count, cents = transactions(self.accounts)
        return {"rows": count, "keys": count, "checksum": cents}


@functools.cache
def stock_sum(records: int) -> int:
    return sum(row[4] for row in common.expected_rows(records))


@functools.cache
def remaining_sum(keys: int) -> int:
    from fakeapi import KeyService

    return sum(int(answer["remaining"]) for answer in KeyService(keys).all())


@functools.cache
def transactions(accounts: tuple[str, ...]) -> tuple[int, int]:
    from fakeapi import Accounts

    ledgers, count, cents = Accounts(), 0, Decimal(0)
    for account in accounts:
        for entry in ledgers.transactions(account):
            count += 1
            cents += Decimal(str(entry["amount"])) * 100
    return count, int(cents)


SIZES = {  # full, quick
    "S1": (1_000_000, 50_000),
    "S2": (500, 50),  # pages of 200
    "S3": (100_000, 2_500),  # keys
    "S4": ((100_000, 1_000_000), (10_000, 30_000)),
    "S5": (1000, 150),  # pages of 200, 10 ms each
    "S6": ((40, 10), (8, 5)),  # accounts × pages of 10 transactions
}
KILLS = (5, 3)
S6_RATE = 40.0


def build(quick: bool) -> list[Scenario]:
    """Every scenario at its full size, or at its `--quick` size."""
    pick = 1 if quick else 0
    pull_all = (BATCHSYNC, TUNED, DLT, SEED, FETCH, LOAD)
    synced = (BATCHSYNC, TUNED, DLT, SEED)
    s1 = SIZES["S1"][pick]
    s2_pages, s5_pages = SIZES["S2"][pick], SIZES["S5"][pick]
    accounts, per_account = SIZES["S6"][pick]
    scenarios = [
        Scenario("S1", f"{s1:,} records → SQLite, no latency", "pull", "sqlite", s1, pull_all),
        Scenario("S1", f"{s1:,} records → PostgreSQL, no latency", "pull", "postgres", s1, pull_all),
        Scenario(
            "S2", f"{s2_pages} pages × 100 ms latency", "pull", "sqlite", s2_pages * 200, synced, latency=0.1
        ),
        Scenario(
            "S3",
            f"lookup of {SIZES['S3'][pick]:,} keys, 50 per call, 50 ms",
            "lookup",
            "sqlite",
            SIZES["S3"][pick],
            (BATCHSYNC, TUNED, SEED),
            latency=0.05,
        ),
    ]
    for size in SIZES["S4"][pick]:
        scenarios.append(
            Scenario("S4", f"peak RSS at {size:,} records", "pull", "sqlite", size, synced, measures="rss")
        )
    scenarios.append(
        Scenario(
            "S5",
            f"kill -9 ×{KILLS[pick]} during {s5_pages} pages × 10 ms",
            "pull",
            "sqlite",
            s5_pages * 200,
            synced,
            latency=0.01,
            kills=KILLS[pick],
            measures="duplicates",
        )
    )
    ids = tuple(apiproc.fanout_accounts(accounts, per_account, 10))
    scenarios.append(
        Scenario(
            "S6",
            f"fan-out {accounts} accounts × {per_account} pages × 100 ms, {S6_RATE:.0f} req/s shared",
            "fanout",
            "sqlite",
            accounts,
            synced,
            page_size=10,
            latency=0.1,
            rate=S6_RATE,
            accounts=ids,
            notes={"pages_per_account": str(per_account)},
        )
    )
    return scenarios

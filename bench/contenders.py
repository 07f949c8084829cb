"""Every contender of bench/compare.py as a job, each run in a fresh process of its own:

    python bench/contenders.py '{"job": "batchsync", "kind": "pull", "url": ..., "database": ...}'

prints one JSON line: the records synced, the seconds the sync took (timed inside the process, after its
imports), its peak RSS, and whether the table it left is exact. A fresh process per run keeps peak RSS
per contender and stops one contender's warm caches from helping the next.
"""

from __future__ import annotations

import contextlib
import resource
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from batchsync.demo import demo_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import common
from common import OFFSET

Spec = dict[str, Any]
# The demo's 8 typed columns: every contender maps and stores the same ones.
PRODUCT_COLUMNS: dict[str, dict[str, Any]] = demo_config("http://127.0.0.1", Path("demo.db"))["pipelines"][
    "products"
]["destination"]["columns"]
TRANSACTION_COLUMNS: dict[str, dict[str, Any]] = {
    "transaction_id": {"path": "transaction_id", "type": "string"},
    "account_id": {"path": "account_id", "type": "string"},
    "amount": {"path": "amount", "type": "decimal"},
    "currency": {"path": "currency", "type": "string"},
    "booked_at": {"path": "booked_at", "type": "datetime"},
    "description": {"path": "description", "type": "string"},
}
KEY_COLUMNS: dict[str, dict[str, Any]] = {
    "prd": {"path": "prd", "type": "string"},
    "remaining": {"path": "remaining", "type": "integer"},
    "blocked": {"path": "blocked", "type": "integer"},
    "errorcode": {"path": "errorcode", "type": "string"},
}
KEYS_TABLE = "CREATE TABLE product_keys (keyname TEXT PRIMARY KEY, prd TEXT, remaining INTEGER,"
KEYS_TABLE += " blocked INTEGER, errorcode TEXT)"
TRANSACTIONS_PER_PAGE = 10
LOOKUP_BATCH = 50


# --- batchsync ------------------------------------------------------------------------------------------


def batchsync_config(spec: Spec) -> dict[str, Any]:
    """The pipeline each scenario syncs, as a user would write it; `concurrency` and `db_batch_size` from
    the spec (the tuned contender), everything else at its default."""
    url, kind = spec["url"], spec["kind"]
    if kind == "pull":
        paginator = {"type": "offset", "limit": spec["page_size"], "has_more_path": "hasMore"}
        paginator["total_path"] = "totalResults"
        source: dict[str, Any] = {
            "type": "rest",
            "base_url": url,
            "path": OFFSET.path,
            "paginator": paginator,
        }
        source["records_path"] = "items"
        destination = {"table": "products", "primary_key": "item_id", "columns": PRODUCT_COLUMNS}
    elif kind == "lookup":
        source = {"type": "lookup", "base_url": url, "path": "/api/keycheck", "batch_size": LOOKUP_BATCH}
        source |= {"keys": {"table": "product_keys", "column": "keyname"}, "match_on": "keyname_with_dash"}
        source["send_keys_as"] = {"query_param": "keys", "separator": ","}
        destination = {"table": "product_keys", "primary_key": "keyname", "columns": KEY_COLUMNS}
    else:
        source = fanout_source(spec)
        destination = {
            "table": "transactions",
            "primary_key": "transaction_id",
            "columns": TRANSACTION_COLUMNS,
        }
    pipeline: dict[str, Any] = {"source": source, "destination": destination}
    for key in ("concurrency", "db_batch_size"):
        if spec.get(key) is not None:
            pipeline[key] = spec[key]
    if spec.get("rate"):  # the API's one limit: the pipeline's limiter is shared by all its children
        pipeline["rate_limit"] = {"requests_per_second": spec["rate"]}
    return {"database": spec["database"], "pipelines": {"bench": pipeline}}


def fanout_source(spec: Spec) -> dict[str, Any]:
    """Entities from `GET /accounts` (each with its token), one child sync of its transactions each."""
    listing = {"base_url": spec["url"], "path": "/accounts", "records_path": "accounts"}
    listing["paginator"] = {
        "type": "page_number",
        "page_size": 100,
        "has_more_path": "page_context.has_more_page",
    }
    child = {"base_url": spec["url"], "path": "/accounts/{entity.account_id}/transactions"}
    child |= {"auth": {"type": "bearer", "token": "{entity.token}"}, "records_path": "transactions"}
    child["paginator"] = {
        "type": "page_number",
        "page_size": TRANSACTIONS_PER_PAGE,
        "has_more_path": "page_context.has_more_page",
    }
    source = {"type": "fanout", "entities": {"api": listing, "id_field": "account_id"}, "child_source": child}
    source["concurrency"] = spec.get("fanout_concurrency", 1)
    return source


def run_batchsync(spec: Spec) -> int:
    import batchsync

    result = batchsync.run("bench", batchsync_config(spec))
    if result.status is not batchsync.RunStatus.SUCCEEDED:
        raise SystemExit(f"batchsync {result.status}: {result.error}")
    return int(result.total_synced)


# --- the seed loop (hand-written) -----------------------------------------------------------------------


def get_json(client: httpx.Client, path: str, **kwargs: Any) -> Any:
    """GET and parse, waiting out a 429 or 503 as a careful hand-written loop does (Retry-After)."""
    for _ in range(20):
        response = client.get(path, **kwargs)
        if response.status_code not in (429, 503):
            response.raise_for_status()
            return response.json()
        time.sleep(float(response.headers.get("retry-after", "1")))
    raise SystemExit(f"{path}: still {response.status_code} after 20 attempts")


def run_seed(spec: Spec) -> int:
    database, kind = spec["database"], spec["kind"]
    if kind == "pull":
        if database.startswith("sqlite"):
            return common.seed_loop_sqlite(spec["url"], spec["page_size"], sqlite_path(database), OFFSET)
        return common.seed_loop_postgres(spec["url"], spec["page_size"], database, OFFSET)
    connection = connect(database)
    try:
        return (seed_lookup if kind == "lookup" else seed_fanout)(spec, connection)
    finally:
        connection.close()


def seed_lookup(spec: Spec, connection: Any) -> int:
    """Keys in order, 50 per call; each answer's row updated one by one, then commit."""
    mark = placeholder(spec["database"])
    update = f"UPDATE product_keys SET prd={mark}, remaining={mark}, blocked={mark}, errorcode={mark}"
    update += f" WHERE keyname={mark}"
    select = f"SELECT keyname FROM product_keys WHERE keyname > {mark} ORDER BY keyname LIMIT {LOOKUP_BATCH}"
    last, total = "", 0
    with httpx.Client(base_url=spec["url"]) as client:
        while True:
            rows = connection.execute(select, (last,)).fetchall()
            if not rows:
                return total
            keys = [row[0] for row in rows]
            for answer in get_json(client, "/api/keycheck", params={"keys": ",".join(keys)}):
                fields = (answer["prd"], answer["remaining"], answer["blocked"], answer["errorcode"])
                connection.execute(update, (*fields, answer["keyname_with_dash"]))
                total += 1
            connection.commit()
            last = keys[-1]


def seed_fanout(spec: Spec, connection: Any) -> int:
    """Each account of `GET /accounts`, page by page: row-by-row upsert, commit."""
    mark = placeholder(spec["database"])
    connection.execute(
        "CREATE TABLE IF NOT EXISTS transactions (transaction_id TEXT PRIMARY KEY, account_id TEXT,"
        " amount NUMERIC, currency TEXT, booked_at TEXT, description TEXT)"
    )
    names = list(TRANSACTION_COLUMNS)
    upsert = f"INSERT INTO transactions VALUES ({', '.join([mark] * len(names))}) ON CONFLICT(transaction_id)"
    upsert += " DO UPDATE SET " + ", ".join(f"{name}=excluded.{name}" for name in names[1:])
    total = 0
    with httpx.Client(base_url=spec["url"]) as client:
        accounts = get_json(client, "/accounts", params={"per_page": 1000})["accounts"]
        for account in accounts:
            headers = {"Authorization": f"Bearer {account['token']}"}
            page = 1
            while True:
                params = {"page": page, "per_page": TRANSACTIONS_PER_PAGE}
                path = f"/accounts/{account['account_id']}/transactions"
                body = get_json(client, path, params=params, headers=headers)
                for record in body["transactions"]:
                    connection.execute(upsert, tuple(str(record[name]) for name in names))
                connection.commit()
                total += len(body["transactions"])
                if not body["page_context"]["has_more_page"]:
                    break
                page += 1
    return total


# --- dlt ------------------------------------------------------------------------------------------------


def dlt_products(record: dict[str, Any]) -> dict[str, Any]:
    """The same 8 columns batchsync maps (dlt would otherwise load every field, nested ones as tables)."""
    return dict(zip(common.COLUMNS, common.item_row(record), strict=True))


def run_dlt(spec: Spec) -> int:
    """dlt's `rest_api` source into the same database: the same paginator, merge on the primary key."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    if spec["kind"] == "pull":
        paginator = {"type": "offset", "limit": spec["page_size"], "offset_param": "offset"}
        paginator |= {"limit_param": "limit", "total_path": None, "has_more_path": "hasMore"}
        resources: list[Any] = [
            {
                "name": "products",
                "primary_key": "item_id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": OFFSET.path.lstrip("/"),
                    "data_selector": "items",
                    "paginator": paginator,
                },
                "processing_steps": [{"map": dlt_products}],
                "columns": {
                    "price": {"data_type": "decimal"},
                    "stock_quantity": {"data_type": "bigint"},
                    "is_active": {"data_type": "bool"},
                    "updated_at": {"data_type": "timestamp"},
                },
            }
        ]
    else:
        resources = dlt_fanout_resources()
    source = rest_api_source({"client": {"base_url": spec["url"]}, "resources": resources})
    database = spec["database"]
    if database.startswith("sqlite"):
        destination: Any = dlt.destinations.sqlalchemy(credentials=database)
        dataset = "main"
    else:
        # dlt insists on a password; the throwaway server trusts local connections and ignores it.
        credentials = database.replace("+psycopg", "").replace("://batchsync@", "://batchsync:unused@")
        destination = dlt.destinations.postgres(credentials=credentials)
        dataset = "bench"
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(Path(spec["workdir"]) / "dlt"),
    )
    pipeline.run(source)
    table = "products" if spec["kind"] == "pull" else "transactions"
    counts = pipeline.last_trace.last_normalize_info.row_counts  # type: ignore[union-attr]
    return int(counts.get(table, 0))


def dlt_fanout_resources() -> list[Any]:
    """`accounts` (the directory, not loaded) and each account's `transactions`, with the account's token."""
    pages = {"type": "page_number", "base_page": 1, "page_param": "page", "total_path": None}
    pages["has_more_path"] = "page_context.has_more_page"
    return [
        {
            "name": "accounts",
            "selected": False,
            "endpoint": {
                "path": "accounts",
                "data_selector": "accounts",
                "params": {"per_page": 1000},
                "paginator": pages,
            },
        },
        {
            "name": "transactions",
            "primary_key": "transaction_id",
            "write_disposition": "merge",
            "endpoint": {
                "path": "accounts/{resources.accounts.account_id}/transactions",
                "headers": {"Authorization": "Bearer {resources.accounts.token}"},
                "params": {"per_page": TRANSACTIONS_PER_PAGE},
                "data_selector": "transactions",
                "paginator": pages,
            },
            "columns": {"amount": {"data_type": "decimal"}, "booked_at": {"data_type": "timestamp"}},
        },
    ]


# --- the limits -----------------------------------------------------------------------------------------


def run_fetch(spec: Spec) -> int:
    return common.fetch_only(spec["url"], spec["page_size"], OFFSET)


def run_load(spec: Spec) -> int:
    """Bulk load only: the rows are built before the clock starts (see `main`), then written at once."""
    rows: list[common.Row] = spec["_rows"]
    if spec["database"].startswith("sqlite"):
        return common.load_only_sqlite(rows, sqlite_path(spec["database"]))
    return common.load_only_postgres(rows, spec["database"])


def prepare_keys(spec: Spec) -> int:
    """Set-up for the lookup scenario (not timed): the keys table, every key known to the fake API."""
    from fakeapi import KeyService

    connection = connect(spec["database"])
    mark = placeholder(spec["database"])
    connection.execute(KEYS_TABLE)
    keys = [(answer["keyname_with_dash"],) for answer in KeyService(spec["keys"]).all()]
    connection.cursor().executemany(f"INSERT INTO product_keys (keyname) VALUES ({mark})", keys)
    connection.commit()
    connection.close()
    return len(keys)


# --- checks and the process entry -----------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def placeholder(url: str) -> str:
    return "?" if url.startswith("sqlite") else "%s"


def connect(url: str) -> Any:
    if url.startswith("sqlite"):
        return sqlite3.connect(sqlite_path(url))
    import psycopg

    return psycopg.connect(url.replace("+psycopg", ""))


def table_check(spec: Spec) -> dict[str, Any]:
    """What the table holds: rows, distinct keys and a checksum column's sum, to compare with the expected."""
    table, key, summed = {
        "pull": ("products", "item_id", "stock_quantity"),
        "lookup": ("product_keys", "keyname", "remaining"),
        "fanout": ("transactions", "transaction_id", "CAST(amount AS NUMERIC) * 100"),
    }[spec["kind"]]
    schema = "bench." if spec["job"] == "dlt" and not spec["database"].startswith("sqlite") else ""
    connection = connect(spec["database"])
    try:
        where = " WHERE remaining IS NOT NULL" if spec["kind"] == "lookup" else ""
        row = connection.execute(
            f"SELECT count(*), count(DISTINCT {key}), sum({summed}) FROM {schema}{table}{where}"
        ).fetchone()
    finally:
        connection.close()
    return {"rows": int(row[0]), "keys": int(row[1]), "checksum": round(float(row[2] or 0))}


JOBS: dict[str, Callable[[Spec], int]] = {
    "batchsync": run_batchsync,
    "seed": run_seed,
    "dlt": run_dlt,
    "fetch": run_fetch,
    "load": run_load,
    "prepare_keys": prepare_keys,
}


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux keeps getrusage's ru_maxrss across exec (so a child started by a big
    parent reports the parent's peak); VmHWM belongs to the address space, new at exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class ChildrenPeak:
    """The largest peak RSS (`VmHWM`) of this process's children (batchsync's writer process), read from
    /proc every 0.1 s while they run: `getrusage(RUSAGE_CHILDREN)` would report at least this process's
    own RSS for each, which a child started by fork and exec inherits as its starting maximum."""

    def __init__(self) -> None:
        self.mib = 0.0
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            for pid in _children():
                self.mib = max(self.mib, _vm_hwm_mib(pid))
            time.sleep(0.1)


def _children() -> list[str]:
    pids: list[str] = []
    for task in Path("/proc/self/task").glob("*"):
        with contextlib.suppress(OSError):
            pids += (task / "children").read_text().split()
    return pids


def _vm_hwm_mib(pid: str) -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    spec: Spec = orjson.loads(sys.argv[1])
    if spec["job"] == "load":
        spec["_rows"] = list(common.expected_rows(spec["records"]))
    children = ChildrenPeak()
    started = time.perf_counter()
    records = JOBS[spec["job"]](spec)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "records": records,
        "seconds": seconds,
        "rss_mib": peak_rss_mib() + children.mib,
    }
    if spec["job"] in ("batchsync", "seed", "dlt", "load"):
        result["table"] = table_check(spec)
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()

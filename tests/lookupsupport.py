"""The lookup tests' shared pieces: the user's keys table, filled from the key-check service's keys, the
lookup pipeline that refreshes it, and how to read it back (tests/test_lookup*.py)."""

from __future__ import annotations

from typing import Any

from fakeapi import SampleApi
from syncsupport import execute, fetch_all

API_KEY = "kc-secret-123"


def make_keys_table(database_url: str, api: SampleApi, extra: list[str] = ()) -> None:
    """The user's own table: keys and product names, the answer columns still empty."""
    execute(
        database_url,
        "CREATE TABLE product_keys (keyname TEXT PRIMARY KEY, prd TEXT, remaining INTEGER,"
        " blocked INTEGER, errorcode TEXT, notes TEXT)",
    )
    rows = [
        {"keyname": answer["keyname_with_dash"], "prd": answer["prd"], "notes": f"note {i}"}
        for i, answer in enumerate(api.keys.all())
    ]
    rows += [{"keyname": key, "prd": "Office 2021 Pro", "notes": "added by hand"} for key in extra]
    execute(
        database_url, "INSERT INTO product_keys (keyname, prd, notes) VALUES (:keyname, :prd, :notes)", rows
    )


def lookup_config(database_url: str, api: SampleApi, **source: Any) -> dict[str, Any]:
    return {
        "database": database_url,
        "pipelines": {
            "key_refresh": {
                "source": {
                    "type": "lookup",
                    "base_url": api.url,
                    "path": "/api/keycheck",
                    "params": {"apikey": API_KEY},
                    "keys": {
                        "table": "product_keys",
                        "column": "keyname",
                        "where": {"prd": {"ilike": "%Office%"}},
                    },
                    "batch_size": 50,
                    "send_keys_as": {"query_param": "keys", "separator": ","},
                    "match_on": "keyname_with_dash",
                    **source,
                },
                "destination": {
                    "table": "product_keys",
                    "primary_key": "keyname",
                    "columns": {
                        "remaining": {"path": "remaining", "type": "integer"},
                        "blocked": {"path": "blocked", "type": "integer"},
                        "errorcode": {"path": "errorcode", "type": "string"},
                    },
                },
                "retry": {"max_attempts": 2, "backoff": 0.01},
            }
        },
    }


def table(database_url: str) -> dict[str, tuple[Any, ...]]:
    rows = fetch_all(
        database_url, "SELECT keyname, prd, remaining, blocked, errorcode, notes FROM product_keys"
    )
    return {row[0]: row[1:] for row in rows}


def office_keys(api: SampleApi) -> dict[str, dict[str, Any]]:
    return {a["keyname_with_dash"]: a for a in api.keys.all() if "office" in str(a["prd"]).lower()}

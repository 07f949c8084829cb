"""Names from the config never become SQL: every table, column and schema name is checked as a plain
identifier of at most 63 bytes (config/names.py), and every statement batchsync builds quotes them, so
a name like the issue's `x"; COMMIT; DROP TABLE y; --` is refused by `validate` and, even past the
config, could only ever name a schema."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.config import DestinationConfig, parse_config
from batchsync.database import open_database
from batchsync.models import RunStatus
from batchsync.sinks.schema import destination_table, ensure_table
from batchsync.state.tables import ensure_state_tables
from fakeapi import Inventory, KeyService, SampleApi
from syncsupport import execute, fetch_all, pipeline_config, url_document, write_config

INJECTION = 'x"; COMMIT; DROP TABLE y; --'
runner = CliRunner(env={"COLUMNS": "200"})


def documents() -> dict[str, Any]:
    """One pipeline of each kind that carries names: a rest pull, a lookup and a fan-out."""
    return {
        "database": "sqlite:///unused.db",
        "pipelines": {
            "items": {
                "source": {"type": "rest", "base_url": "http://127.0.0.1:1", "paginator": {"type": "offset"}},
                "destination": {
                    "table": "items",
                    "primary_key": "item_id",
                    "columns": {"item_id": {"path": "item_id"}, "name": {"path": "name"}},
                },
            },
            "keys": {
                "source": {
                    "type": "lookup",
                    "base_url": "http://127.0.0.1:1",
                    "keys": {"table": "product_keys", "column": "keyname", "where": {"prd": {"eq": "x"}}},
                    "send_keys_as": {"query_param": "keys"},
                    "match_on": "keyname",
                },
                "destination": {
                    "table": "product_keys",
                    "primary_key": "keyname",
                    "columns": {"remaining": {"path": "remaining", "type": "integer"}},
                },
            },
            "fan": {
                "source": {
                    "type": "fanout",
                    "entities": {"table": "users", "where": {"active": {"eq": 1}}},
                    "children": {
                        "table": "providers",
                        "entity_column": "user_id",
                        "where": {"ok": {"eq": 1}},
                    },
                    "child_source": {
                        "base_url": "http://127.0.0.1:1",
                        "path": "/u/{entity.id}/items",
                        "paginator": {"type": "offset"},
                    },
                },
                "destination": {
                    "table": "fan_items",
                    "primary_key": "item_id",
                    "columns": {"item_id": {"path": "item_id"}},
                },
            },
        },
    }


def _rename_key(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def _set_column(doc: dict[str, Any], name: str) -> None:
    _rename_key(doc["pipelines"]["items"]["destination"]["columns"], "name", name)


def _set_primary_key(doc: dict[str, Any], name: str) -> None:
    destination = doc["pipelines"]["items"]["destination"]
    destination["primary_key"] = name
    _rename_key(destination["columns"], "item_id", name)


def _set_lookup_table(doc: dict[str, Any], name: str) -> None:
    lookup = doc["pipelines"]["keys"]
    lookup["source"]["keys"]["table"] = lookup["destination"]["table"] = name


def _set_lookup_column(doc: dict[str, Any], name: str) -> None:
    lookup = doc["pipelines"]["keys"]
    lookup["source"]["keys"]["column"] = lookup["destination"]["primary_key"] = name


def _setter(*path: str) -> Callable[[dict[str, Any], str], None]:
    def set_value(doc: dict[str, Any], name: str) -> None:
        node = doc
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = name

    return set_value


def _where_column(*path: str) -> Callable[[dict[str, Any], str], None]:
    def set_where(doc: dict[str, Any], name: str) -> None:
        node = doc
        for step in path:
            node = node[step]
        _rename_key(node, next(iter(node)), name)

    return set_where


# Every name the config carries: how to set it, and the setting its problem is reported at.
NAMES: dict[str, tuple[Callable[[dict[str, Any], str], None], str]] = {
    "state_schema": (_setter("state_schema"), "state_schema"),
    "destination.table": (_setter("pipelines", "items", "destination", "table"), "items.destination.table"),
    "destination.schema": (
        _setter("pipelines", "items", "destination", "schema"),
        "items.destination.schema",
    ),
    "destination.primary_key": (_set_primary_key, "items.destination.primary_key"),
    "destination.columns": (_set_column, "items.destination.columns"),
    "lookup keys.table": (_set_lookup_table, "keys.source.keys.table"),
    "lookup keys.column": (_set_lookup_column, "keys.source.keys.column"),
    "lookup keys.where": (
        _where_column("pipelines", "keys", "source", "keys", "where"),
        "keys.source.keys.where",
    ),
    "fanout entities.table": (
        _setter("pipelines", "fan", "source", "entities", "table"),
        "fan.source.entities.table",
    ),
    "fanout entities.where": (
        _where_column("pipelines", "fan", "source", "entities", "where"),
        "fan.source.entities.where",
    ),
    "fanout children.table": (
        _setter("pipelines", "fan", "source", "children", "table"),
        "fan.source.children.table",
    ),
    "fanout children.entity_column": (
        _setter("pipelines", "fan", "source", "children", "entity_column"),
        "fan.source.children.entity_column",
    ),
    "fanout children.where": (
        _where_column("pipelines", "fan", "source", "children", "where"),
        "fan.source.children.where",
    ),
}

BAD_NAMES = {
    "injection": (INJECTION, "is not a plain identifier"),
    "empty": ("", "must not be empty"),
    "nul": ("a\x00b", "is not a plain identifier"),
    "trailing_newline": ("items\n", "is not a plain identifier"),
    "space": ("two words", "is not a plain identifier"),
    "leading_digit": ("1st", "is not a plain identifier"),
    "non_ascii": ("prix_€", "is not a plain identifier"),
    "64_bytes": ("n" * 64, "is 64 bytes long; names are at most 63 bytes"),
}


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(batchsync.ConfigError) as caught:
        parse_config(document, environ={})
    return caught.value.problems


def _where(reported_at: str) -> str:
    return reported_at if reported_at == "state_schema" else f"pipelines.{reported_at}"


@pytest.mark.parametrize("bad", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
@pytest.mark.parametrize("setting", list(NAMES))
def test_every_name_in_the_config_must_be_a_plain_identifier_of_at_most_63_bytes(
    setting: str, bad: tuple[str, str]
) -> None:
    set_name, reported_at = NAMES[setting]
    name, reason = bad
    document = documents()
    set_name(document, name)

    problems = problems_of(document)

    assert any(p.startswith(f"{_where(reported_at)}: ") and reason in p for p in problems), problems


@pytest.mark.parametrize("setting", list(NAMES))
@pytest.mark.parametrize("name", ["n" * 63, "Mixed_Case_9", "_leading_underscore", "select"])
def test_a_plain_name_of_up_to_63_bytes_is_accepted_everywhere(setting: str, name: str) -> None:
    document = documents()
    NAMES[setting][0](document, name)

    parse_config(document, environ={})


def test_columns_differing_only_by_case_are_refused_as_sqlite_takes_them_for_one() -> None:
    document = documents()
    document["pipelines"]["items"]["destination"]["columns"]["Name"] = {"path": "title"}

    assert problems_of(document) == [
        "pipelines.items.destination.columns: columns 'name' and 'Name' differ only by case, which SQLite "
        "treats as the same column; rename one"
    ]


def test_a_lookup_column_differing_from_the_key_only_by_case_is_refused() -> None:
    document = documents()
    document["pipelines"]["keys"]["destination"]["columns"]["KEYNAME"] = {"path": "keyname"}

    assert problems_of(document) == [
        "pipelines.keys: primary_key 'keyname' is the lookup key, not a column to set"
    ]


@pytest.mark.parametrize("column", ["_batchsync_hash", "_BATCHSYNC_SEEN_AT", "_batchsync_extra"])
def test_batchsyncs_own_column_names_are_refused(column: str) -> None:
    document = documents()
    _set_column(document, column)

    assert problems_of(document) == [
        f"pipelines.items.destination.columns: column name {column!r}: the _batchsync prefix is reserved "
        "for batchsync's own columns"
    ]


@pytest.mark.parametrize("table", ["batchsync_runs", "BatchSync_Errors"])
def test_batchsyncs_own_table_names_are_refused(table: str) -> None:
    document = documents()
    document["pipelines"]["items"]["destination"]["table"] = table

    assert problems_of(document) == [
        "pipelines.items.destination.table: the batchsync_ prefix is reserved for batchsync's own tables"
    ]


@pytest.mark.parametrize("schema", ["pg_catalog", "PG_TEMP", "information_schema"])
@pytest.mark.parametrize("setting", ["state_schema", "destination.schema"])
def test_postgresql_system_schemas_are_refused(setting: str, schema: str) -> None:
    set_name, reported_at = NAMES[setting]
    document = documents()
    set_name(document, schema)

    assert problems_of(document) == [
        f"{_where(reported_at)}: {schema!r} is a PostgreSQL system schema name (pg_*, information_schema)"
    ]


@pytest.mark.parametrize("setting", ["state_schema", "destination.schema"])
def test_validate_refuses_the_injection_with_exit_2_and_the_setting_named(
    tmp_path: Path, setting: str
) -> None:
    set_name, reported_at = NAMES[setting]
    document = documents()
    set_name(document, INJECTION)
    config_file = write_config(tmp_path / "batchsync.yaml", document)

    result = runner.invoke(app, ["validate", "-c", str(config_file)], catch_exceptions=False)

    assert result.exit_code == 2, result.output
    assert "config OK" not in result.output
    assert (
        f"{_where(reported_at)}: 'x\"; COMMIT; DROP TABLE y; --' is not a plain identifier" in result.output
    )


# -- On a real PostgreSQL server ------------------------------------------------------------------------


def _tables(url: str, schema: str | None = None) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names(schema=schema))
    finally:
        engine.dispose()


def _schemas(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_schema_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("setting", ["state_schema", "destination.schema"])
def test_the_injection_in_a_schema_name_never_runs_on_postgresql(
    postgres_url: str, tmp_path: Path, setting: str
) -> None:
    execute(postgres_url, "CREATE TABLE y (id INTEGER)")
    with SampleApi(Inventory(size=10)) as api:
        document = url_document(postgres_url, {"items": pipeline_config(api.url)})
        if setting == "state_schema":
            document["state_schema"] = INJECTION
        else:
            document["pipelines"]["items"]["destination"]["schema"] = INJECTION
        config_file = write_config(tmp_path / "batchsync.yaml", document)

        with pytest.raises(batchsync.ConfigError) as refused:
            batchsync.run("items", copy.deepcopy(document))
        cli = runner.invoke(app, ["run", "items", "-c", str(config_file)], catch_exceptions=False)

    assert "is not a plain identifier" in refused.value.problems[0]
    assert cli.exit_code == 2 and "is not a plain identifier" in cli.output, cli.output
    assert "y" in _tables(postgres_url), "table y was dropped"
    assert not any(schema.startswith("x") for schema in _schemas(postgres_url))


def test_past_the_config_a_hostile_state_schema_only_names_a_schema(postgres_url: str) -> None:
    """The statements quote what they are given: the Python API's open_database takes any string."""
    execute(postgres_url, "CREATE TABLE y (id INTEGER)")
    engine = open_database(postgres_url, state_schema=INJECTION)
    try:
        ensure_state_tables(engine)
        ensure_state_tables(engine)  # the second start finds the schema and takes the lock again
    finally:
        engine.dispose()

    assert "y" in _tables(postgres_url)
    assert "batchsync_schema_version" in _tables(postgres_url, INJECTION)


def test_past_the_config_a_hostile_destination_schema_only_names_a_schema(postgres_url: str) -> None:
    execute(postgres_url, "CREATE TABLE y (id INTEGER)")
    valid = DestinationConfig.model_validate(
        {"table": "items", "primary_key": "id", "columns": {"id": {"path": "id"}}}
    )
    destination = valid.model_copy(update={"db_schema": INJECTION})  # skips the validators
    engine = open_database(postgres_url)
    try:
        added = ensure_table(engine, destination_table(destination), destination)
    finally:
        engine.dispose()

    assert "y" in _tables(postgres_url)
    assert _tables(postgres_url, INJECTION) == {"items"} and added == []


# -- Names that need quoting, and the longest names, on both databases ----------------------------------

LONG_TABLE = "t" * 63
LONG_KEY = "k" * 63
LONG_COLUMN = "C" * 63


def test_names_of_63_bytes_work_end_to_end(database_url: str) -> None:
    with SampleApi(Inventory(size=150)) as api:
        pipeline = pipeline_config(api.url)
        pipeline["destination"] = {
            "table": LONG_TABLE,
            "primary_key": LONG_KEY,
            "columns": {LONG_KEY: {"path": "item_id"}, LONG_COLUMN: {"path": "name"}},
        }
        config = url_document(database_url, {"items": pipeline})
        if database_url.startswith("postgresql"):
            pipeline["destination"]["schema"] = "s" * 63
            config["state_schema"] = "S" * 63

        first = batchsync.run("items", config)
        second = batchsync.run("items", config)  # finds the table (and its index) under the same names

    assert first.status is RunStatus.SUCCEEDED, first.error
    assert second.status is RunStatus.SUCCEEDED and second.counts.unchanged == 150
    qualified = f'"{"s" * 63}".{LONG_TABLE}' if database_url.startswith("postgresql") else LONG_TABLE
    names = {name for (name,) in fetch_all(database_url, f'SELECT "{LONG_COLUMN}" FROM {qualified}')}
    assert names == {item["name"] for item in api.inventory.items()}


def test_reserved_words_and_mixed_case_are_quoted_when_creating_and_evolving_a_table(
    database_url: str,
) -> None:
    with SampleApi(Inventory(size=20)) as api:
        pipeline = pipeline_config(api.url)
        pipeline["destination"] = {
            "table": "Order",
            "primary_key": "select",
            "columns": {"select": {"path": "item_id"}, "Group": {"path": "category"}},
        }
        batchsync.run("items", url_document(database_url, {"items": pipeline}))
        pipeline["destination"]["columns"]["from"] = {"path": "unit"}  # ALTER TABLE … ADD COLUMN

        grown = batchsync.run("items", url_document(database_url, {"items": pipeline}))

    rows = fetch_all(database_url, 'SELECT "select", "Group", "from" FROM "Order"')
    assert grown.status is RunStatus.SUCCEEDED and grown.counts.updated == 20
    assert sorted(rows) == sorted((i["item_id"], i["category"], i["unit"]) for i in api.inventory.items())


def test_the_suggested_migration_is_quoted_qualified_and_runs_as_shown(database_url: str) -> None:
    is_postgres = database_url.startswith("postgresql")
    with SampleApi(Inventory(size=20)) as api:
        pipeline = pipeline_config(api.url)
        pipeline["destination"] = {
            "table": "Stock",
            "primary_key": "item_id",
            "columns": {
                "item_id": {"path": "item_id"},
                "On_Hand": {"path": "stock_on_hand", "type": "integer"},
            },
        }
        if is_postgres:
            pipeline["destination"]["schema"] = "Sync"
        config = url_document(database_url, {"items": pipeline})
        batchsync.run("items", config)
        pipeline["destination"]["columns"]["On_Hand"]["type"] = "decimal"

        with pytest.raises(batchsync.ConfigError, match="migrate it first: ") as caught:
            batchsync.run("items", config)
        migration = str(caught.value).split("migrate it first: ")[1]
        execute(database_url, migration)
        after = batchsync.run("items", config)

    if is_postgres:
        assert migration == (
            'ALTER TABLE "Sync"."Stock" ALTER COLUMN "On_Hand" TYPE NUMERIC USING "On_Hand"::NUMERIC'
        )
    else:
        assert migration == 'ALTER TABLE "Stock" DROP COLUMN "On_Hand"'
    assert after.status is RunStatus.SUCCEEDED, after.error


def test_a_lookup_table_whose_name_needs_quoting_gets_its_seen_at_column(database_url: str) -> None:
    with SampleApi(keys=KeyService(size=30, seed=1)) as api:
        execute(database_url, 'CREATE TABLE "Keys" ("Key" TEXT PRIMARY KEY, "left" INTEGER)')
        execute(
            database_url,
            'INSERT INTO "Keys" ("Key") VALUES (:key)',
            [{"key": answer["keyname_with_dash"]} for answer in api.keys.all()],
        )
        pipeline = {
            "source": {
                "type": "lookup",
                "base_url": api.url,
                "path": "/api/keycheck",
                "keys": {"table": "Keys", "column": "Key"},
                "send_keys_as": {"query_param": "keys", "separator": ","},
                "match_on": "keyname_with_dash",
            },
            "destination": {
                "table": "Keys",
                "primary_key": "Key",
                "columns": {"left": {"path": "remaining", "type": "integer"}},
            },
        }

        result = batchsync.run("keys", url_document(database_url, {"keys": pipeline}))

        expected = {answer["keyname_with_dash"]: answer["remaining"] for answer in api.keys.all()}
    rows = fetch_all(database_url, 'SELECT "Key", "left", _batchsync_seen_at FROM "Keys"')
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert {key: left for key, left, _ in rows} == expected and all(seen for _, _, seen in rows)

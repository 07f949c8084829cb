"""A hostile or careless API, served for real on 127.0.0.1: numbers no float holds, values the fast JSON
parser refuses, records nested hundreds of levels deep, and answers that are not JSON at all. Every case
ends with exact data or a dead letter for just the bad record, or a clear error without a traceback."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from fakeapi import SampleApi
from fakeapi.messages import ApiRequest, Response
from syncsupport import fetch_all, fetch_dicts, url_document, write_config

runner = CliRunner(env={"COLUMNS": "200"})
PATH = "/inventory/v1/items"
LAST_PAGE = b'{"items": [], "page_context": {"has_more_page": false}}'


class ServedBodies:
    """A fault plan that answers page N of the collection with `bodies[N-1]`, then an empty last page."""

    def __init__(self, *bodies: bytes, content_type: str = "application/json") -> None:
        self._bodies = bodies
        self._content_type = content_type

    def before_collection_response(self, request: ApiRequest, _response: Response) -> Response:
        page = int(request.query.get("page", "1"))
        body = self._bodies[page - 1] if page <= len(self._bodies) else LAST_PAGE
        return Response(200, body, content_type=self._content_type)


def page_of(*records: str) -> bytes:
    """A page body from records written as raw JSON text, so numbers keep exactly the digits given."""
    return b'{"items": [' + ",".join(records).encode() + b'], "page_context": {"has_more_page": true}}'


def pipeline(api: SampleApi, columns: dict[str, Any], key: str = "id") -> dict[str, Any]:
    return {
        "source": {
            "type": "rest",
            "base_url": api.url,
            "path": PATH,
            "records_path": "items",
            "paginator": {
                "type": "page_number",
                "page_size": 2,
                "has_more_path": "page_context.has_more_page",
            },
        },
        "retry": {"max_attempts": 3, "backoff": 0},
        "destination": {"table": "items", "primary_key": key, "columns": columns},
    }


def run_cli(tmp_path: Path, database_url: str, config: dict[str, Any]) -> Any:
    config_file = write_config(tmp_path / "c.yaml", url_document(database_url, {"items": config}))
    return runner.invoke(app, ["run", "items", "-c", str(config_file), "--json"])


def collection_requests(api: SampleApi) -> int:
    return sum(1 for request in api.requests if request.path == PATH)


def dead_letters(database_url: str) -> list[dict[str, Any]]:
    return fetch_dicts(database_url, "SELECT key, error, record FROM batchsync_errors ORDER BY key")


# -- exact numbers ------------------------------------------------------------------------------------


def test_integer_ids_beyond_64_bits_stay_two_distinct_rows(
    api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of(
            '{"id": 123456789012345678901234567890, "n": 1}',
            '{"id": 123456789012345678901234567891, "n": 2}',
        )
    )
    config = pipeline(api, {"id": {"path": "id"}, "n": {"path": "n", "type": "integer"}})

    result = run_cli(tmp_path, database_url, config)

    summary = orjson.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert summary["created"] == 2
    assert sorted(fetch_all(database_url, "SELECT id, n FROM items")) == [
        ("123456789012345678901234567890", 1),
        ("123456789012345678901234567891", 2),
    ]


def test_an_integer_key_beyond_the_column_is_a_dead_letter_not_another_key(
    api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of(
            '{"id": 9223372036854775808, "name": "too big"}', '{"id": 9223372036854775807, "name": "max"}'
        )
    )
    config = pipeline(api, {"id": {"path": "id", "type": "integer"}, "name": {"path": "name"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code == 1, result.output  # partial: one record in error
    assert fetch_all(database_url, "SELECT id, name FROM items") == [(9223372036854775807, "max")]
    [letter] = dead_letters(database_url)
    assert letter["key"] == "9223372036854775808"
    assert "out of the 64-bit integer range" in letter["error"]
    assert "9223372036854775808" in letter["record"], "the dead letter keeps the exact digits"


def test_an_integer_value_beyond_64_bits_is_a_dead_letter_and_the_rest_of_the_page_lands(
    api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of('{"id": "a", "n": 18446744073709551616}', '{"id": "b", "n": -9223372036854775808}')
    )
    config = pipeline(api, {"id": {"path": "id"}, "n": {"path": "n", "type": "integer"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code == 1, result.output
    assert fetch_all(database_url, "SELECT id, n FROM items") == [("b", -9223372036854775808)]
    assert [letter["key"] for letter in dead_letters(database_url)] == ["a"]


def test_decimals_are_stored_with_the_exact_digits_sent_on_postgresql(
    api: SampleApi, tmp_path: Path, postgres_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of(
            '{"id": "a", "amount": 12345678901234567.891, "ratio": 0.1}',
            '{"id": "b", "amount": 1.10, "ratio": 1e400}',
        )
    )
    config = pipeline(
        api,
        {
            "id": {"path": "id"},
            "amount": {"path": "amount", "type": "decimal"},
            "ratio": {"path": "ratio", "type": "decimal"},
        },
    )

    result = run_cli(tmp_path, postgres_url, config)

    assert result.exit_code == 0, result.output
    rows = dict(
        (key, (amount, ratio))
        for key, amount, ratio in fetch_all(postgres_url, "SELECT id, amount, ratio FROM items")
    )
    assert rows["a"] == (Decimal("12345678901234567.891"), Decimal("0.1"))
    assert str(rows["b"][0]) == "1.10", "1.10 stays 1.10"
    assert rows["b"][1] == Decimal("1e400")


def test_a_float_column_may_round_but_a_float_beyond_its_range_is_a_dead_letter(
    api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of('{"id": "a", "x": 0.1000000000000000055511151231257827}', '{"id": "b", "x": 1e400}')
    )
    config = pipeline(api, {"id": {"path": "id"}, "x": {"path": "x", "type": "float"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code == 1, result.output
    assert fetch_all(database_url, "SELECT id, x FROM items") == [("a", 0.1)]
    [letter] = dead_letters(database_url)
    assert letter["key"] == "b" and "out of the range of a float" in letter["error"]


def test_numbers_in_json_columns_keep_their_digits(api: SampleApi, tmp_path: Path, database_url: str) -> None:
    api.settings.faults = ServedBodies(
        page_of('{"id": "a", "doc": {"big": 123456789012345678901234567890, "price": 1.10}}')
    )
    config = pipeline(api, {"id": {"path": "id"}, "doc": {"path": "doc", "type": "json"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code == 0, result.output
    [(doc,)] = fetch_all(database_url, "SELECT CAST(doc AS TEXT) FROM items")
    assert "123456789012345678901234567890" in doc and "1.10" in doc


def test_a_rerun_over_exact_numbers_finds_every_row_unchanged(
    api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of('{"id": 123456789012345678901234567890, "amount": 1.10, "doc": {"n": 2.50}}')
    )
    config = pipeline(
        api,
        {
            "id": {"path": "id"},
            "amount": {"path": "amount", "type": "decimal"},
            "doc": {"path": "doc", "type": "json"},
        },
    )

    first = orjson.loads(run_cli(tmp_path, database_url, config).stdout)
    second = orjson.loads(run_cli(tmp_path, database_url, config).stdout)

    assert (first["created"], second["created"], second["updated"], second["unchanged"]) == (1, 0, 0, 1)


# -- values the fast parser refuses ---------------------------------------------------------------------


def test_a_lone_surrogate_is_a_dead_letter_read_once_and_the_rest_of_the_page_lands(
    api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(
        page_of('{"id": "a", "name": "bad \\ud800 text"}', '{"id": "b", "name": "fine"}'),
        page_of('{"id": "c", "name": "next page"}'),
    )
    config = pipeline(api, {"id": {"path": "id"}, "name": {"path": "name"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code == 1, result.output
    assert sorted(fetch_all(database_url, "SELECT id, name FROM items")) == [
        ("b", "fine"),
        ("c", "next page"),
    ]
    [letter] = dead_letters(database_url)
    assert letter["key"] == "a" and "not valid Unicode" in letter["error"]
    assert orjson.loads(result.stdout)["retries"] == 0, "a valid body is not fetched again"


@pytest.mark.parametrize("depth", [300, 2_000])
def test_deeply_nested_values_are_stored_or_dead_lettered_never_a_crash(
    depth: int, api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    nested = "[" * depth + "1" + "]" * depth
    api.settings.faults = ServedBodies(
        page_of(
            f'{{"id": "deep", "doc": {nested}, "text": {nested}}}',
            f'{{"name": "no key here", "doc": {nested}}}',
            '{"id": "flat", "doc": [1], "text": "x"}',
        )
    )
    config = pipeline(
        api,
        {"id": {"path": "id"}, "doc": {"path": "doc", "type": "json"}, "text": {"path": "text"}},
    )

    result = run_cli(tmp_path, database_url, config)

    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.exit_code == 1, result.output  # the keyless record is a dead letter
    rows = dict(fetch_all(database_url, "SELECT id, CAST(doc AS TEXT) FROM items"))
    assert rows["flat"].replace(" ", "") == "[1]"
    letters = dead_letters(database_url)
    if "deep" in rows:
        assert rows["deep"].replace(" ", "") == nested
        assert [letter["key"] for letter in letters] == [None]
    else:  # the database refused to nest that deep (PostgreSQL's stack limit): a dead letter says so
        assert sorted(str(letter["key"]) for letter in letters) == ["None", "deep"]
    assert all(letter["record"].startswith("{") for letter in letters), "every dead letter is stored"


# -- answers that are not JSON ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"items": [{"id": "a", "name": "caf\xe9"}]}', "invalid UTF-8 (byte 0xe9) at byte offset 35"),
        (b'{"items": [{"id": "a"} {"id": "b"}]}', "at line 1 column 24"),
        (b"Internal error, please try again", "Expecting value at line 1 column 1"),
    ],
    ids=["invalid-utf8", "missing-comma", "plain-text"],
)
def test_a_body_that_will_never_parse_stops_at_once_naming_what_and_where(
    body: bytes, expected: str, api: SampleApi, tmp_path: Path, database_url: str
) -> None:
    api.settings.faults = ServedBodies(body)
    config = pipeline(api, {"id": {"path": "id"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert collection_requests(api) == 1, "the same bytes would fail the same way: not retried"


def test_a_body_cut_short_is_still_retried(api: SampleApi, tmp_path: Path, database_url: str) -> None:
    api.settings.faults = ServedBodies(b'{"items": [{"id": "a", "na')
    config = pipeline(api, {"id": {"path": "id"}})

    result = run_cli(tmp_path, database_url, config)

    assert result.exit_code != 0
    assert "cut short" in result.output
    assert collection_requests(api) == 3, "retried up to retry.max_attempts"


def test_fanout_rules_compare_exact_api_numbers_with_the_yaml_values(api: SampleApi, tmp_path: Path) -> None:
    api.settings.faults = ServedBodies(page_of('{"id": "e1", "score": 0.1}', '{"id": "e2", "score": 0.2}'))
    config = {
        "source": {
            "type": "fanout",
            "entities": {
                "api": {
                    "base_url": api.url,
                    "path": PATH,
                    "records_path": "items",
                    "paginator": {"type": "page_number", "has_more_path": "page_context.has_more_page"},
                },
                "id_field": "id",
                "rules": [{"field": "score", "equals": 0.1, "reason": "not the chosen score"}],
            },
            "child_source": {"base_url": api.url, "path": "/accounts/{entity.id}/transactions"},
        },
        "destination": {"table": "t", "primary_key": "id", "columns": {"id": {"path": "id"}}},
    }
    config_file = write_config(
        tmp_path / "c.yaml", url_document(f"sqlite:///{tmp_path / 'f.db'}", {"fan": config})
    )

    result = runner.invoke(app, ["run", "fan", "-c", str(config_file), "--dry-run", "--json"])

    entities = {entity["id"]: entity for entity in orjson.loads(result.stdout)["entities"]}
    assert entities["e2"]["reason"] == "not the chosen score"
    assert entities["e1"]["status"] != "skipped", "0.1 from the API equals 0.1 in the YAML"

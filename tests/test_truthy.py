"""One definition of truthy text (truthy.py): a has-more flag, a boolean column and an `is_true` rule read
"on", "Yes" or "0" the same way, and a has-more flag that is neither true nor false stops the run loudly
instead of ending the pass early. The flag cases run against the real sample API on both databases."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

import batchsync
from batchsync.config import ColumnConfig, DestinationConfig, Rule
from batchsync.models import JsonResponse, Page, RunStatus
from batchsync.paths import DottedPath
from batchsync.rules import first_failing
from batchsync.sinks.mapping import RowMapper
from batchsync.sources.paginators.base import read_flag
from batchsync.truthy import FALSE_TEXTS, TRUE_TEXTS
from fakeapi import SampleApi
from fakeapi.messages import ApiRequest, Response
from syncsupport import pipeline_config, table_rows_at, url_document


class FlagAsText:
    """Serves the real pages, their `has_more_page` written as `true_text` or `false_text` instead of
    a JSON boolean, as some APIs do."""

    def __init__(self, true_text: str, false_text: str = "false") -> None:
        self._texts = {True: true_text, False: false_text}

    def before_collection_response(self, _request: ApiRequest, response: Response) -> Response:
        body = orjson.loads(response.body)
        context = body.get("page_context") if isinstance(body, dict) else None
        if not isinstance(context, dict) or "has_more_page" not in context:
            return response
        context["has_more_page"] = self._texts[bool(context["has_more_page"])]
        return dataclasses.replace(response, body=orjson.dumps(body))


@pytest.mark.parametrize(
    ("true_text", "false_text"), [("on", "off"), (" Yes ", "no"), ("Y", "N"), ("1", "0")]
)
def test_a_has_more_flag_written_as_text_pages_through_the_whole_collection(
    true_text: str, false_text: str, api: SampleApi, database_url: str
) -> None:
    api.settings.faults = FlagAsText(true_text, false_text)
    config = url_document(database_url, {"items": pipeline_config(api.url)})

    result = batchsync.run("items", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(table_rows_at(database_url)) == len(api.inventory) == 1_000


def test_a_has_more_flag_that_is_neither_true_nor_false_fails_the_run_naming_it(
    api: SampleApi, database_url: str
) -> None:
    api.settings.faults = FlagAsText("maybe")
    config = url_document(database_url, {"items": pipeline_config(api.url)})

    result = batchsync.run("items", config)

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "'maybe'" in result.error and "page_context.has_more_page" in result.error
    assert "neither true nor false" in result.error


def _flag(value: Any) -> bool:
    page = Page(JsonResponse("https://api.example.com/items", 200, {}, {"more": value}), [])
    return read_flag(page, DottedPath.parse("more"))


def _column(value: Any) -> bool:
    destination = DestinationConfig(
        table="t",
        primary_key="id",
        columns={"id": ColumnConfig(path="id"), "flag": ColumnConfig(path="flag", type="boolean")},
    )
    row = RowMapper(destination).map({"id": "1", "flag": value})
    flag: bool = row.values[1]
    return flag


def _rule(value: Any) -> bool:
    return first_failing([Rule(field="flag", is_true=True)], {"flag": value}) is None


WORDS = sorted(TRUE_TEXTS | FALSE_TEXTS)
SPELLINGS = [spelling for word in WORDS for spelling in (word, word.upper(), f" {word.title()} ")]


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_has_more_flag_a_boolean_column_and_an_is_true_rule_read_a_word_alike(text: str) -> None:
    expected = text.strip().lower() in TRUE_TEXTS

    assert _flag(text) is _column(text) is _rule(text) is expected

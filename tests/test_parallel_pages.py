"""`concurrency`: the pages of an offset or page-number pull fetched N at once from the sample API, still
committed in page order. Every paginator ends with the exact table at any concurrency; the requests really
overlap; with a total known no page past the end is asked for, without one at most N - 1; an API that
serves fewer records than asked still ends exact; and a kill -9 or a stop costs at most N + 1 pages."""

from __future__ import annotations

import collections
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import batchsync
from batchsync.database import open_database
from batchsync.engine.options import Progress
from batchsync.models import RunStatus
from batchsync.state import checkpoints
from fakeapi import Inventory, SampleApi
from fakeapi.faults import FailWhere, NoFaults
from fakeapi.messages import ApiRequest, Response, json_response
from pacing import arrival_times, burst_beyond, tolerated_burst
from syncsupport import (
    STYLES,
    assert_table_at_equals_source,
    assert_table_equals_source,
    config_document,
    fetch_all,
    pipeline_config,
    url_document,
    write_config,
)

SIZE = 2_345  # not a multiple of any page size below: the last page is short


@pytest.fixture(scope="module")
def shared_api() -> SampleApi:
    with SampleApi(Inventory(size=SIZE)) as server:
        yield server


def run_style(api: SampleApi, database: Path, style: str, concurrency: int, **paginator: Any) -> Any:
    pipeline = pipeline_config(api.url, style)
    pipeline["source"]["paginator"].update(paginator)
    pipeline["concurrency"] = concurrency
    return batchsync.run("items", config_document(database, {"items": pipeline}))


def page_of(request: Any, style: str) -> int:
    """The 1-based page a collection request asked for, in `style`'s page size."""
    paginator = STYLES[style]["paginator"]
    if paginator["type"] == "offset":
        return int(request.query.get("offset", "0")) // paginator["limit"] + 1
    return int(request.query.get("page", "1"))


def collection_requests(api: SampleApi, style: str) -> list[Any]:
    return [r for r in api.requests if r.path == STYLES[style]["path"]]


@pytest.mark.parametrize("concurrency", [1, 4, 16])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_paginator_ends_with_the_exact_table_at_any_concurrency(
    style: str, concurrency: int, shared_api: SampleApi, database: Path
) -> None:
    result = run_style(shared_api, database, style, concurrency)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.is_pass_complete and result.counts.created == SIZE
    assert_table_equals_source(database, shared_api.inventory)


def test_pages_fetched_at_once_end_exact_on_postgresql(shared_api: SampleApi, postgres_url: str) -> None:
    pipeline = pipeline_config(shared_api.url, "offset_has_more")
    pipeline["concurrency"] = 8
    pipeline["source"]["paginator"]["limit"] = 100
    result = batchsync.run("items", url_document(postgres_url, {"items": pipeline}))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert_table_at_equals_source(postgres_url, shared_api.inventory)


FIRST_HELD = 12


class Rendezvous:
    """A fault plan that sends every answer unchanged, but holds the requests for pages 12 to 19 until all
    eight are being answered at once: with fewer in flight the barrier breaks and the plan says so. Pages
    12 to 19, because the window doubles (one, two, four, eight pages) each time the engine waits for a
    page, and with 50 ms per answer it waits for most: it is eight wide well before page 12."""

    def __init__(self, style: str, parties: int = 8) -> None:
        self._style = style
        self._barrier = threading.Barrier(parties, timeout=20)
        self.broken = False

    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        if FIRST_HELD <= page_of(request, self._style) < FIRST_HELD + self._barrier.parties:
            try:
                self._barrier.wait()
            except threading.BrokenBarrierError:
                self.broken = True
        return response


def test_with_latency_and_concurrency_8_eight_requests_are_in_flight_at_once(
    api: SampleApi, database: Path
) -> None:
    api.settings.latency_seconds = 0.05
    plan = Rendezvous("page_number_has_more")
    api.settings.faults = plan

    result = run_style(api, database, "page_number_has_more", 8, page_size=50)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert not plan.broken, "pages 12 to 19 were not all requested before the first of them was answered"
    assert_table_equals_source(database, api.inventory)
    assert sum(1 for _ in fetch_all(f"sqlite:///{database}", "SELECT item_id FROM items")) == 1_000


@pytest.mark.parametrize("concurrency", [4, 16])
@pytest.mark.parametrize(
    ("style", "knows_total"),
    [
        ("offset_total", True),
        ("page_number_total_pages", True),
        ("offset_has_more", False),
        ("offset_short_page", False),
        ("page_number_has_more", False),
        ("page_number_short_page", False),
    ],
)
def test_requests_past_the_end_none_with_a_total_at_most_n_minus_1_without(
    style: str, knows_total: bool, concurrency: int, shared_api: SampleApi, database: Path
) -> None:
    shared_api.clear_log()
    result = run_style(shared_api, database, style, concurrency)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert_table_equals_source(database, shared_api.inventory)
    paginator = STYLES[style]["paginator"]
    page_size = paginator.get("limit") or paginator.get("page_size")
    last_page = -(-SIZE // page_size)
    pages = collections.Counter(page_of(r, style) for r in collection_requests(shared_api, style))
    past_end = sum(n for page, n in pages.items() if page > last_page)
    assert past_end == 0 if knows_total else past_end <= concurrency - 1
    assert all(pages[page] >= 1 for page in range(1, last_page + 1))


class CappedLimit:
    """An API that serves at most `cap` records whatever `limit` asks (and says so in `count`), as many
    real ones do: the offsets then move by `cap`, not by the limit the paginator sent."""

    def __init__(self, cap: int) -> None:
        self._cap = cap

    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        if response.status != 200:
            return response
        body = orjson.loads(response.body)
        items = body["items"][: self._cap]
        offset = int(request.query.get("offset", "0"))
        body |= {"items": items, "count": len(items), "hasMore": offset + len(items) < body["totalResults"]}
        return json_response(200, body, record_count=len(items))


@pytest.mark.parametrize("style", ["offset_has_more", "offset_total"])
def test_an_api_capping_the_limit_still_ends_exact_with_concurrency_8(
    style: str, api: SampleApi, database: Path
) -> None:
    api.settings.faults = CappedLimit(cap=70)
    api.settings.latency_seconds = 0.02  # the engine waits for pages, so the window opens and guesses

    result = run_style(api, database, style, 8)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.counts.created == 1_000 and result.is_pass_complete
    assert_table_equals_source(database, api.inventory)
    written = [r for r in api.requests if r.path == STYLES[style]["path"]]
    assert len(written) > result.pages + 1, "pages guessed at offsets the capped API never reached"


def test_errors_of_pages_past_the_end_are_never_raised(api: SampleApi, database: Path) -> None:
    # 1,000 items in pages of 100: every request for page 11 or later fails on every attempt.
    api.settings.faults = FailWhere(lambda request: int(request.query.get("page", "1")) > 10, "server_error")
    api.settings.latency_seconds = 0.02  # the engine waits for pages, so the window opens and guesses

    pipeline = pipeline_config(api.url, "page_number_has_more")
    pipeline["source"]["paginator"]["page_size"] = 100
    pipeline["concurrency"] = 8
    pipeline["retry"] = {"max_attempts": 2, "backoff": 0}  # the run waits for them: keep the test quick
    result = batchsync.run("items", config_document(database, {"items": pipeline}))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert_table_equals_source(database, api.inventory)
    assert api.faults_injected["server_error"] >= 1, "pages past the end were asked for, and failed"


def test_a_failing_page_fails_the_run_only_when_reached_after_the_pages_before_it_are_committed(
    api: SampleApi, database: Path
) -> None:
    api.settings.faults = FailWhere({"page": 5}, "server_error")
    pipeline = pipeline_config(api.url, "page_number_has_more")
    pipeline["source"]["paginator"]["page_size"] = 100
    pipeline["concurrency"] = 8
    pipeline["retry"] = {"max_attempts": 2, "backoff": 0}
    config = config_document(database, {"items": pipeline})

    failed = batchsync.run("items", config)

    assert failed.status is RunStatus.FAILED and "500" in (failed.error or "")
    rows = {key for (key,) in fetch_all(f"sqlite:///{database}", "SELECT item_id FROM items")}
    assert rows == {item["item_id"] for item in api.inventory.items()[:400]}, "pages 1 to 4, nothing after"
    api.settings.faults = NoFaults()
    assert batchsync.run("items", config).status is RunStatus.SUCCEEDED
    assert_table_equals_source(database, api.inventory)


# -- kill -9 and stop ------------------------------------------------------------------------------------

PAGES, PAGE_SIZE, CONCURRENCY = 60, 50, 8


def page_requests(api: SampleApi) -> list[str]:
    return [r.query.get("page", "1") for r in api.requests if r.path.endswith("/items")]


def wait_for_page_requests(api: SampleApi, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while len(page_requests(api)) < count:
        assert process.poll() is None, f"sync ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "sync made no progress"
        time.sleep(0.002)


def test_kill_9_at_random_moments_with_concurrency_8_then_rerun_ends_exact(tmp_path: Path) -> None:
    chooser = random.Random(20261202)
    with SampleApi(Inventory(size=PAGES * PAGE_SIZE)) as api:
        api.settings.latency_seconds = 0.02
        database = tmp_path / "sync.db"
        pipeline = pipeline_config(api.url, "page_number_has_more")
        pipeline["source"]["paginator"]["page_size"] = PAGE_SIZE
        pipeline["concurrency"] = CONCURRENCY
        pipeline["db_batch_size"] = 20
        config_file = write_config(
            tmp_path / "batchsync.yaml", config_document(database, {"items": pipeline})
        )
        command = [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "--quiet"]
        kills = 0
        for _ in range(6):
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            already = len(page_requests(api))
            wait_for_page_requests(api, already + chooser.randint(1, 12), process)
            time.sleep(chooser.uniform(0, 0.03))  # anywhere in a fetch or a write, not just at a request
            process.kill()
            process.wait()
            kills += 1

        final = subprocess.run(command, capture_output=True, timeout=180)

        assert final.returncode == 0, final.stderr.decode()
        assert_table_equals_source(database, api.inventory)
        counts = collections.Counter(page_requests(api))
        refetched = sum(n - 1 for page, n in counts.items() if int(page) <= PAGES)
        assert refetched <= (CONCURRENCY + 1) * kills
        (created,) = fetch_all(f"sqlite:///{database}", "SELECT sum(created) FROM batchsync_runs")[0]
        assert created == PAGES * PAGE_SIZE, "each run's row counts exactly the rows its batches committed"


def test_a_stop_mid_pass_with_concurrency_8_leaves_the_checkpoint_after_the_last_committed_batch(
    api: SampleApi, database: Path
) -> None:
    api.settings.latency_seconds = 0.01
    pipeline = pipeline_config(api.url, "offset_has_more")
    pipeline["source"]["paginator"]["limit"] = 40
    pipeline["db_batch_size"] = 15  # several batches per page: a stop may land inside one
    pipeline["concurrency"] = 8
    config = config_document(database, {"items": pipeline})
    stop, seen = threading.Event(), list[Progress]()

    def stop_after_seven_batches(progress: Progress) -> None:
        seen.append(progress)
        if len(seen) == 7:
            stop.set()

    stopped = batchsync.run("items", config, stop=stop, on_progress=stop_after_seven_batches)

    assert stopped.status is RunStatus.CANCELLED and not stopped.is_pass_complete
    engine = open_database(f"sqlite:///{database}")
    with engine.connect() as connection:
        checkpoint = checkpoints.load(connection, "items")
    engine.dispose()
    assert checkpoint is not None and len(seen) == 7
    rows = [key for (key,) in fetch_all(f"sqlite:///{database}", "SELECT item_id FROM items")]
    position = int(checkpoint.cursor) + checkpoint.skip_records
    assert position == len(rows) == checkpoint.pass_records == seen[-1].pass_records == 7 * 15 - 2 * 5
    expected_ids = {item["item_id"] for item in list(api.inventory.items())[:position]}
    assert set(rows) == expected_ids, "the rows are exactly the records before the checkpoint"

    rerun = batchsync.run("items", config)

    assert rerun.status is RunStatus.SUCCEEDED and rerun.is_pass_complete
    assert_table_equals_source(database, api.inventory)


def test_sixteen_pages_at_once_keep_to_a_rate_limit_the_server_enforces(
    api: SampleApi, database: Path
) -> None:
    rate = 20
    api.settings.rate_limit_per_second = rate  # a bucket of 20 tokens: a client at 20/s is never refused
    api.settings.latency_seconds = 0.05
    pipeline = pipeline_config(api.url, "page_number_has_more")
    pipeline["source"]["paginator"]["page_size"] = 25  # 40 pages
    pipeline.update(concurrency=16, rate_limit={"requests_per_second": rate})

    result = batchsync.run("items", config_document(database, {"items": pipeline}))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert api.rate_limited_count == 0, "sixteen requests at once, still one schedule of 20/s"
    assert burst_beyond(arrival_times(api.requests), rate) <= tolerated_burst(rate)
    assert_table_equals_source(database, api.inventory)

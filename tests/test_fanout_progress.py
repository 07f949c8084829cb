"""A fan-out reports its progress like any run: after each committed batch of a child sync and after each
entity, with entities done out of all and the records of every child so far, one at a time or with
entities synced concurrently; a resumed fan-out counts the entities its interrupted run finished."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import batchsync
from batchsync.engine import Progress
from fakeapi import SampleApi
from test_fanout import KINDS, fanout_config, make_tables


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_fanout_reports_entities_done_out_of_all_and_the_records_synced(
    api: SampleApi, tmp_path: Path, concurrency: int
) -> None:
    database_url = f"sqlite:///{tmp_path / 'sync.db'}"
    make_tables(database_url, api)
    reports: list[Progress] = []

    result = batchsync.run(
        "bank_sync", fanout_config(database_url, api, concurrency), on_progress=reports.append
    )

    done = [report.entities_done for report in reports]
    records = [report.records for report in reports]
    assert {report.entities_total for report in reports} == {len(KINDS)}
    assert done == sorted(done) and done[-1] == len(KINDS)
    assert records == sorted(records) and records[-1] == result.total_synced > 1_000
    assert reports[-1].pages == result.pages and reports[-1].is_pass_complete


def test_a_resumed_fanout_counts_the_entities_already_done(api: SampleApi, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'sync.db'}"
    make_tables(database_url, api)
    config = fanout_config(database_url, api)
    stop = threading.Event()

    def stop_after_ten_entities(report: Progress) -> None:
        if report.entities_done >= 10:
            stop.set()

    batchsync.run("bank_sync", config, stop=stop, on_progress=stop_after_ten_entities)
    reports: list[Progress] = []
    batchsync.run("bank_sync", config, on_progress=reports.append)

    assert 10 <= reports[0].entities_done < len(KINDS) and reports[-1].entities_done == len(KINDS)

"""The code calls them dead letters (and an entity's success `SUCCEEDED`); users keep the names they
already have in `--json`, `stats --json` and the Python API, each derived from the one field."""

from __future__ import annotations

from datetime import UTC, datetime

import batchsync
from batchsync.models import (
    DeadLetterReport,
    EntityResult,
    EntityStatus,
    RunResult,
    RunStatus,
    Trigger,
    WriteCounts,
)
from batchsync.operations import PipelineStats

LETTERS = (DeadLetterReport("k1", "bad price"), DeadLetterReport(None, "no key"))


def a_result(**changes: object) -> RunResult:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    fields: dict[str, object] = {
        "run_id": "r1",
        "pipeline": "items",
        "trigger": Trigger.MANUAL,
        "status": RunStatus.PARTIAL,
        "started_at": moment,
        "finished_at": moment,
        "api_calls": 1,
        "pages": 1,
        "counts": WriteCounts(created=3),
        "is_pass_complete": True,
        "dead_letters": LETTERS,
    }
    return RunResult(**(fields | changes))  # type: ignore[arg-type]


def test_the_json_counts_and_lists_the_dead_letters_under_the_names_users_have() -> None:
    document = a_result().to_dict()

    assert document["failed"] == document["errors"] == 2
    details = [{"key": "k1", "error": "bad price"}, {"key": None, "error": "no key"}]
    assert document["error_details"] == details


def test_a_run_without_dead_letters_says_so_under_every_name() -> None:
    document = a_result(dead_letters=()).to_dict()

    assert (document["failed"], document["errors"], document["error_details"]) == (0, 0, [])


def test_the_python_api_keeps_failures_and_record_failure() -> None:
    result = a_result()

    assert result.failures == result.dead_letters == LETTERS
    assert batchsync.RecordFailure is DeadLetterReport


def test_stats_keep_rows_in_error() -> None:
    figures = PipelineStats(
        pipeline="items",
        table="items",
        total_rows=5,
        synced_last_run=5,
        stale_rows=0,
        stale_after_seconds=60.0,
        deleted_rows=0,
        dead_letters=4,
        last_sync_at=None,
    )

    assert figures.rows_in_error == 4 and figures.to_dict()["rows_in_error"] == 4


def test_a_succeeded_entity_is_still_success_to_users() -> None:
    entity = EntityResult("acc-1", None, EntityStatus.SUCCEEDED)
    result = a_result(entities=(entity,), message="Bulk sync completed: 1 successful, 0 failed, 0 skipped")

    assert EntityStatus.SUCCEEDED.value == "success" == entity.to_dict()["status"]
    assert result.to_dict()["totals"]["successful"] == 1  # type: ignore[index]

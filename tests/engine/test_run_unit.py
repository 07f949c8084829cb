"""engine/run.py's `run_unit`: a unit of work runs on its own from just the config and the database, under
the checkpoint key, dead-letter name and run id the caller gives it, and holds no lease or run of its own."""

from __future__ import annotations

from pathlib import Path

import batchsync
from batchsync.config import parse_config
from batchsync.engine import RunOptions, WorkUnit, run_unit
from batchsync.models import RunStatus
from fakeapi import SampleApi
from syncsupport import assert_table_equals_source, config_document, fetch_all, pipeline_config


def test_a_unit_syncs_its_pass_under_the_checkpoint_key_it_is_given(api: SampleApi, database: Path) -> None:
    config = parse_config(config_document(database, {"items": pipeline_config(api.url)}))
    unit = WorkUnit(
        config=config,
        name="items",
        pipeline=config.pipeline("items"),
        state_key="items/shard-1",
        dead_letter_key="items",
        run_id="run-of-the-caller",
        options=RunOptions(),
        reports_position=False,
    )

    result = run_unit(unit)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert (result.run_id, result.counts.created) == ("run-of-the-caller", 1_000)
    assert result.is_pass_complete
    assert_table_equals_source(database, api.inventory)
    url = f"sqlite:///{database}"
    keys = [row[0] for row in fetch_all(url, "SELECT pipeline FROM batchsync_checkpoints")]
    assert keys == ["items/shard-1"], "the pipeline's own checkpoint is left alone"
    assert fetch_all(url, "SELECT * FROM batchsync_leases") == [], "the caller holds the lease"
    assert batchsync.history("items", config) == [], "the caller holds the run's record"

"""engine/starting.py: where a run starts, decided from the stored checkpoint alone (no database, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchsync.config import IncrementalConfig, PythonSourceConfig
from batchsync.engine.starting import PassIdentity, new_pass, starting_checkpoint
from batchsync.errors import CheckpointError
from batchsync.models import Checkpoint
from batchsync.redaction import Redactor

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BEFORE = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
IDENTITY = PassIdentity("page_number:200:1|https://api.test/items", {"page_size": "200", "start": "1"}, 1)
SOURCE = PythonSourceConfig(type="python", function="pkg.module:records")
INCREMENTAL = IncrementalConfig(cursor_path="updated_at", param="since", initial_value="2020-01-01")


def start(
    stored: Checkpoint | None,
    *,
    identity: PassIdentity = IDENTITY,
    incremental: IncrementalConfig | None = None,
    full_refresh: bool = False,
    redactor: Redactor | None = None,
) -> Checkpoint:
    return starting_checkpoint(
        stored,
        identity,
        pipeline="items",
        source=SOURCE,
        incremental=incremental,
        full_refresh=full_refresh,
        now=NOW,
        redactor=redactor or Redactor(),
    )


def unfinished(**changes: object) -> Checkpoint:
    fields: dict[str, object] = {
        "cursor": 7,
        "skip_records": 20,
        "pass_started_at": BEFORE,
        "pass_records": 1_220,
        "pass_watermark": "2026-01-01",
        "watermark": "2025-12-01",
        "fingerprint": IDENTITY.fingerprint,
        "settings": dict(IDENTITY.settings),
    }
    return Checkpoint(**(fields | changes))  # type: ignore[arg-type]


def test_a_first_run_begins_a_new_pass_at_the_first_cursor_now() -> None:
    checkpoint = start(None)

    assert checkpoint == Checkpoint(
        cursor=1, pass_started_at=NOW, fingerprint=IDENTITY.fingerprint, settings=IDENTITY.settings
    )


def test_an_unfinished_pass_with_the_same_fingerprint_resumes_exactly_where_it_stood() -> None:
    stored = unfinished()

    assert start(stored) is stored


def test_a_full_refresh_begins_a_new_pass_without_a_watermark_even_mid_pass() -> None:
    checkpoint = start(unfinished(fingerprint="other"), incremental=INCREMENTAL, full_refresh=True)

    assert (checkpoint.cursor, checkpoint.pass_started_at, checkpoint.pass_records) == (1, NOW, 0)
    assert checkpoint.pass_watermark is None
    assert checkpoint.watermark == "2025-12-01", "the next normal pass still starts from it"


def test_after_a_complete_pass_a_new_pass_sends_the_saved_watermark() -> None:
    done = Checkpoint(is_complete=True, pass_started_at=BEFORE, watermark="2026-02-01", last_synced_at=BEFORE)

    checkpoint = start(done, incremental=INCREMENTAL)

    assert (checkpoint.pass_watermark, checkpoint.watermark) == ("2026-02-01", "2026-02-01")
    assert (checkpoint.pass_started_at, checkpoint.last_synced_at) == (NOW, BEFORE)


def test_without_a_saved_watermark_an_incremental_pass_sends_its_initial_value() -> None:
    assert start(None, incremental=INCREMENTAL).pass_watermark == "2020-01-01"
    assert start(Checkpoint(), incremental=INCREMENTAL).pass_watermark == "2020-01-01"


def test_a_source_without_incremental_sends_no_watermark() -> None:
    done = Checkpoint(is_complete=True, pass_started_at=BEFORE, watermark="2026-02-01")

    assert start(done).pass_watermark is None


def test_an_unfinished_pass_with_other_settings_is_refused_naming_what_changed() -> None:
    stored = unfinished(
        fingerprint="page_number:1000:1|https://api.test/items", settings={"page_size": "1000"}
    )
    now_200 = PassIdentity(IDENTITY.fingerprint, {"page_size": "200"}, 1)

    with pytest.raises(CheckpointError) as refused:
        start(stored, identity=now_200)

    assert str(refused.value).startswith("items has an unfinished pass that was started with page size 1000")
    assert "run `batchsync reset items` to start the pass over" in str(refused.value)


def test_a_checkpoint_from_before_settings_were_kept_is_explained_from_its_fingerprint() -> None:
    stored = unfinished(fingerprint="python:pkg.old:records", settings={})
    now = PassIdentity("python:pkg.module:records", {"function": "pkg.module:records"})

    with pytest.raises(CheckpointError, match=r"function pkg\.old:records then, pkg\.module:records now"):
        start(stored, identity=now)


def test_the_refusal_is_redacted() -> None:
    stored = unfinished(fingerprint="x", settings={"param:token": "s3cr3t-value"})

    with pytest.raises(CheckpointError) as refused:
        start(stored, redactor=Redactor({"s3cr3t-value"}))

    assert "s3cr3t-value" not in str(refused.value)


def test_a_new_pass_keeps_the_previous_watermark_and_last_sync() -> None:
    previous = unfinished(last_synced_at=BEFORE, max_seen_watermark="2026-02-02")

    checkpoint = new_pass(previous, IDENTITY, pass_watermark="2026-01-01", now=NOW)

    assert checkpoint == Checkpoint(
        cursor=1,
        pass_started_at=NOW,
        pass_watermark="2026-01-01",
        watermark="2025-12-01",
        fingerprint=IDENTITY.fingerprint,
        last_synced_at=BEFORE,
        settings=IDENTITY.settings,
    )

"""Where a run starts: resume the unfinished pass of the stored checkpoint, or begin a new pass.

A pure decision (no database, no HTTP, no clock of its own), so every case is a unit test: the run
loads the stored checkpoint, its plan says what the pass's cursor means (`PassIdentity`), and this
module answers with the checkpoint to start from. A stored cursor only means the same page under the
same settings, so an unfinished pass begun with other settings is refused (CheckpointError) with a
message naming what changed, rather than resumed at the wrong page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from batchsync.config import IncrementalConfig, SourceConfig
from batchsync.errors import CheckpointError
from batchsync.models import Checkpoint, Cursor, JSONValue
from batchsync.redaction import Redactor
from batchsync.sources.settings import mismatch_message, settings_of_fingerprint


@dataclass(frozen=True, slots=True)
class PassIdentity:
    """What a pass's cursor depends on: its fingerprint (the yes/no test), the settings it stands for
    (for the message of a mismatch), and the cursor a new pass begins at."""

    fingerprint: str
    settings: dict[str, str] = field(default_factory=dict)
    first_cursor: Cursor = None


def starting_checkpoint(
    stored: Checkpoint | None,
    identity: PassIdentity,
    *,
    pipeline: str,
    source: SourceConfig,
    incremental: IncrementalConfig | None,
    full_refresh: bool,
    now: datetime,
    redactor: Redactor,
) -> Checkpoint:
    """`stored` itself when it holds an unfinished pass (and not `full_refresh`); else a new pass from
    its watermark (the incremental's `initial_value` on a first run, none on a full refresh). Raises
    CheckpointError when the unfinished pass was started with other settings than `identity`'s."""
    if stored is not None and stored.is_started and not full_refresh:
        if stored.fingerprint != identity.fingerprint:
            before = stored.settings or settings_of_fingerprint(stored.fingerprint)
            message = mismatch_message(pipeline, before, identity.settings, source)
            raise CheckpointError(redactor.redact(message))
        return stored
    watermark = stored.watermark if stored else None
    pass_watermark = None
    if incremental is not None and not full_refresh:
        pass_watermark = watermark if watermark is not None else incremental.initial_value
    return new_pass(stored or Checkpoint(), identity, pass_watermark=pass_watermark, now=now)


def new_pass(
    previous: Checkpoint, identity: PassIdentity, *, pass_watermark: JSONValue, now: datetime
) -> Checkpoint:
    """A pass beginning at `identity`'s first cursor, keeping `previous`'s watermark and last sync."""
    return Checkpoint(
        cursor=identity.first_cursor,
        pass_started_at=now,
        pass_watermark=pass_watermark,
        watermark=previous.watermark,
        fingerprint=identity.fingerprint,
        last_synced_at=previous.last_synced_at,
        settings=dict(identity.settings),
    )

"""What a run's BatchWriter is made of, as plain values that pickle: so the run's own process and a writer
process (engine/offload/) make the same writer, with the same checkpoint key, dead letters and settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchsync.config import DestinationConfig, IncrementalConfig
from batchsync.engine.batches import BatchWriter
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.redaction import Redactor
from batchsync.sinks import make_sink
from batchsync.sources.incremental import Incremental


@dataclass(frozen=True, slots=True)
class WriterSpec:
    """A BatchWriter's settings (see `BatchWriter.__init__` for what each means)."""

    state_key: str
    run_id: str
    dialect: str
    destination: DestinationConfig
    incremental: IncrementalConfig | None
    redactor: Redactor
    fail_on_record_error: bool
    dry_run: bool
    table_exists: bool
    dead_letters_under: str
    settles_dead_letters_at_pass_end: bool
    updates_existing_rows: bool = False

    def writer(self, *, has_dead_letters: bool, live_record: LiveRunRecord | None) -> BatchWriter:
        """A writer with these settings. `has_dead_letters`: whether any are filed under the name now."""
        return BatchWriter(
            self.state_key,
            self.run_id,
            make_sink(self.dialect, self.destination),
            incremental=Incremental(self.incremental) if self.incremental else None,
            redactor=self.redactor,
            fail_on_record_error=self.fail_on_record_error,
            dry_run=self.dry_run,
            has_dead_letters=has_dead_letters,
            table_exists=self.table_exists,
            dead_letters_under=self.dead_letters_under,
            settles_dead_letters_at_pass_end=self.settles_dead_letters_at_pass_end,
            updates_existing_rows=self.updates_existing_rows,
            on_missing=self.destination.on_missing,
            live_record=live_record,
        )

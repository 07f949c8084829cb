"""Lookup refresh: keys from a local table, sent to an API at most `batch_size` per request, answers written
back into the same rows.

Keys are read in key order, a batch at a time (never all at once). Up to `concurrency` batches are asked
at once (engine/lookup_window.py), and their answers committed in key order: the last key of the
contiguous committed prefix is the checkpoint, committed with the batch's updates through the same batch
writer as a pull's pages (engine/batches.py, `Sink.update_columns`). A batch the API refuses with a 4xx is
split in halves until the key it objects to stands alone, so every good key is still refreshed; a batch
that fails after its retries reports each of its keys; a key missing from the answer is an error for that
key. None of these stops the other batches.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from batchsync import jsontext
from batchsync.config import DestinationConfig, LookupSourceConfig, Where
from batchsync.engine.batches import BatchWriter, WriterTotals
from batchsync.engine.lookup_keys import LookupKeys
from batchsync.engine.lookup_window import LookupWindow, StoppedWaiting
from batchsync.engine.options import KeyRange
from batchsync.engine.records import Batch
from batchsync.errors import PermanentHttpError, RecordError, TransientHttpError
from batchsync.http.client import HttpClient
from batchsync.models import Checkpoint, JSONObject, PageRequest
from batchsync.paths import MISSING, DottedPath
from batchsync.redaction import Redactor
from batchsync.sinks.mapping import ColumnsMapper, MappedRow
from batchsync.state.deadletters import DeadLetter

log = logging.getLogger("batchsync.lookup")

# 4xx answers that mean "something in this batch is unacceptable": worth splitting to find it. Others
# (401, 403, 404…) are wrong for every batch alike and stop the run.
_SPLITTABLE = frozenset({400, 413, 414, 422})

# A batch's answers by stored key, and an error for each key without one.
Answers = tuple[dict[Any, JSONObject], dict[str, str]]


class LookupRefresher(WriterTotals):
    """Refreshes one pipeline's rows; the writer keeps the run's counts and dead letters."""

    def __init__(
        self,
        source: LookupSourceConfig,
        destination: DestinationConfig,
        client: HttpClient,
        writer: BatchWriter,
        *,
        filters: Where,
        key_range: KeyRange | None = None,
        redactor: Redactor,
        stop: threading.Event,
        batch_size: int | None = None,
        concurrency: int = 1,
        fail_on_record_error: bool = False,
        on_batch: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        """`writer` commits each batch (built with `updates_existing_rows`: a lookup creates no row);
        `concurrency` is how many batches may be asked at once; `on_batch` is called with the checkpoint
        after every committed batch."""
        self._source = source
        self._client = client
        self._writer = writer
        self._redactor = redactor
        self._stop = stop
        self._batch_size = batch_size or source.batch_size
        self._concurrency = concurrency
        self._fail_on_record_error = fail_on_record_error
        self._on_batch = on_batch
        self._mapper = ColumnsMapper(destination.columns)
        self._match_on = DottedPath.parse(source.match_on)
        self._records_path = DottedPath.parse(source.records_path) if source.records_path else None
        self._keys = LookupKeys(source, filters, key_range)
        self._requests_lock = threading.Lock()  # requests are sent from the window's worker threads
        self.requests = 0
        self.pages = 0
        self.expected_total: int | None = None
        """Keys in this pass: those already committed plus those left, counted as the refresh starts."""

    def refresh(self, connection: Connection, checkpoint: Checkpoint) -> Checkpoint:
        """Refresh every remaining key; returns the last committed checkpoint (complete at the end)."""
        self.expected_total = checkpoint.pass_records + self._keys.count_after(connection, checkpoint.cursor)
        window = LookupWindow(self._answers_for, self._concurrency)
        self._last = checkpoint
        try:
            return self._refresh(connection, checkpoint, window)
        except StoppedWaiting:
            log.info("stopped while a lookup batch was out; the checkpoint is the last committed batch's")
            return self._last
        finally:
            window.close()

    def _refresh(
        self, connection: Connection, checkpoint: Checkpoint, window: LookupWindow[Answers]
    ) -> Checkpoint:
        """Keep the window full with the next batches of keys, commit their answers in key order."""
        read_after, has_more = checkpoint.cursor, True
        while True:
            while has_more and window.has_room():
                keys = self._keys.next_after(connection, read_after, self._batch_size)
                has_more = bool(keys)
                if keys:
                    window.submit(keys)
                    read_after = keys[-1]
            if not window:
                return self._commit(connection, checkpoint, {}, {}, last_key=None)
            keys, (answers, errors) = window.next(self._stop)
            checkpoint = self._last = self._commit(connection, checkpoint, answers, errors, last_key=keys[-1])
            self.pages += 1
            if self._on_batch is not None:
                self._on_batch(checkpoint)
            if self._stop.is_set():
                return checkpoint

    # --- asking the API --------------------------------------------------------------------------------

    def _answers_for(self, keys: list[Any]) -> Answers:
        """A batch's answers by stored key and its keys' errors; called on the window's worker threads."""
        answers, errors = self._look_up([str(key) for key in keys])
        return {key: answers[str(key)] for key in keys if str(key) in answers}, errors

    def _look_up(self, keys: list[str]) -> tuple[dict[str, JSONObject], dict[str, str]]:
        """Answers by key, and an error for every key without one."""
        try:
            with self._requests_lock:
                self.requests += 1
            response = self._client.fetch(self._request(keys))
        except PermanentHttpError as exc:
            if exc.status not in _SPLITTABLE:
                raise  # e.g. 401: every batch would fail alike; stop the run with the reason
            if len(keys) == 1:
                return {}, {keys[0]: f"the service rejected the key: {exc}"}
            half = len(keys) // 2
            log.info("lookup batch of %d keys rejected (%s): splitting it", len(keys), exc.status)
            first, first_errors = self._look_up(keys[:half])
            second, second_errors = self._look_up(keys[half:])
            return first | second, first_errors | second_errors
        except TransientHttpError as exc:
            return {}, {key: f"lookup failed: {exc}" for key in keys}
        body = response.body if self._records_path is None else self._records_path.get(response.body)
        if not isinstance(body, list):
            reason = "the answer has no list of results" + (
                f" at {self._records_path}" if self._records_path else ""
            )
            return {}, {key: reason for key in keys}
        wanted = set(keys)
        answers: dict[str, JSONObject] = {}
        for answer in body:
            matched = self._match_on.get(answer) if isinstance(answer, dict) else MISSING
            if matched is not MISSING and str(matched) in wanted:
                answers[str(matched)] = answer
        errors = {
            key: f"not in the answer (no result with {self._match_on} = {key!r})"
            for key in keys
            if key not in answers
        }
        return answers, errors

    def _request(self, keys: list[str]) -> PageRequest:
        how = self._source.send_keys_as
        params = self._source.query_params()
        if how.query_param is not None:
            return PageRequest(self._source.path, {**params, how.query_param: how.separator.join(keys)})
        return PageRequest(self._source.path, params, method="POST", json={how.json_body: keys})

    # --- writing back ----------------------------------------------------------------------------------

    def _commit(
        self,
        connection: Connection,
        checkpoint: Checkpoint,
        answers: dict[Any, JSONObject],
        errors: dict[str, str],
        *,
        last_key: Any,
    ) -> Checkpoint:
        """Commit the answers' values and the keys' errors with the checkpoint after `last_key` (None:
        the pass is complete)."""
        batch = self._batch(answers, errors)
        is_done = last_key is None
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_done else last_key,
            is_complete=is_done,
            pass_records=checkpoint.pass_records + batch.size,
            last_synced_at=datetime.now(UTC),
        )
        self._writer.commit_with_checkpoint(connection, batch, following, pages=0 if is_done else 1)
        return following

    def _batch(self, answers: dict[Any, JSONObject], errors: dict[str, str]) -> Batch:
        """Each answer as the row of its (stored) key; each key's error, and each answer that does not
        convert, as a dead letter. Raises RecordError for the latter when on_record_error is fail."""
        letters = [DeadLetter(key, "{}", self._redactor.redact(error)) for key, error in errors.items()]
        rows: list[MappedRow] = []
        for key, answer in answers.items():
            try:
                values = self._mapper.values(answer)
            except RecordError as exc:
                if self._fail_on_record_error:
                    raise RecordError(f"key {key}: {exc}", key=str(key)) from None
                raw = self._redactor.redact(jsontext.dumps_for_display(answer))
                letters.append(DeadLetter(str(key), raw, self._redactor.redact(f"key {key}: {exc}")))
                continue
            # No content hash: an update compares the stored values themselves (Sink.update_columns).
            rows.append(MappedRow(key, tuple(values), "", answer))
        return Batch(tuple(rows), tuple(letters))

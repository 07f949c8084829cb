"""Lookup refresh: keys from a local table, sent to an API at most `batch_size` per request, answers written
back into the same rows.

Keys are read in key order, a batch at a time (never all at once), after the last key committed: that key
is the checkpoint, committed with the batch's updates. A batch the API refuses with a 4xx is split in
halves until the key it objects to stands alone, so every good key is still refreshed; a batch that fails
after its retries reports each of its keys; a key missing from the answer is an error for that key.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
    column,
    func,
    inspect,
    select,
    table,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from batchsync import jsontext
from batchsync.config import DestinationConfig, LookupSourceConfig, Where
from batchsync.database import AddColumn
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.errors import ConfigError, PermanentHttpError, RecordError, SinkError, TransientHttpError
from batchsync.http.client import HttpClient
from batchsync.models import Checkpoint, JSONObject, PageRequest, RecordFailure, WriteCounts
from batchsync.paths import MISSING, DottedPath
from batchsync.redaction import Redactor
from batchsync.sinks.mapping import ColumnsMapper
from batchsync.sinks.schema import SEEN_AT_COLUMN
from batchsync.sinks.where import where_clause
from batchsync.state import checkpoints, deadletters
from batchsync.state.deadletters import DeadLetter
from batchsync.timestamps import stamp

log = logging.getLogger("batchsync.lookup")

# 4xx answers that mean "something in this batch is unacceptable": worth splitting to find it. Others
# (401, 403, 404…) are wrong for every batch alike and stop the run.
_SPLITTABLE = frozenset({400, 413, 414, 422})


class LookupRefresher:
    """Refreshes one pipeline's rows; keeps the run's counts and failures."""

    def __init__(
        self,
        pipeline: str,
        run_id: str,
        source: LookupSourceConfig,
        destination: DestinationConfig,
        client: HttpClient,
        *,
        filters: Where,
        redactor: Redactor,
        stop: threading.Event,
        dry_run: bool,
        batch_size: int | None = None,
        fail_on_record_error: bool = False,
        on_batch: Callable[[Checkpoint], None] | None = None,
        dialect: str = "sqlite",
        live_record: LiveRunRecord | None = None,
    ) -> None:
        """`on_batch` is called with the checkpoint after every committed batch; `live_record` adds each
        committed batch to the run's row (None: no row, as in a dry run)."""
        self._pipeline = pipeline
        self._run_id = run_id
        self._source = source
        self._client = client
        self._redactor = redactor
        self._stop = stop
        self._dry_run = dry_run
        self._dialect = dialect
        self._batch_size = batch_size or source.batch_size
        self._fail_on_record_error = fail_on_record_error
        self._on_batch = on_batch
        self._live_record = live_record
        self._mapper = ColumnsMapper(destination.columns)
        self._match_on = DottedPath.parse(source.match_on)
        self._records_path = DottedPath.parse(source.records_path) if source.records_path else None
        keys = source.keys
        self._keys_table = table(
            keys.table, *(column(name) for name in {keys.column, *source.keys.where, *filters})
        )
        self._key = self._keys_table.c[keys.column]
        # The config's where and the CLI's --filter both apply, even on the same column.
        self._filter = and_(
            where_clause(self._keys_table, keys.where), where_clause(self._keys_table, filters)
        )
        self._columns = list(destination.columns)
        self._rows = table(
            keys.table, column(keys.column), *(column(name) for name in self._columns), column(SEEN_AT_COLUMN)
        )
        self._row_key = self._rows.c[keys.column]
        self.counts = WriteCounts()
        self.failures: list[RecordFailure] = []
        self.records = 0
        self.deleted = 0
        self.requests = 0
        self.pages = 0
        self.expected_total: int | None = None
        """Keys in this pass: those already committed plus those left, counted as the refresh starts."""
        self.batches_committed = 0

    def refresh(self, connection: Connection, checkpoint: Checkpoint) -> Checkpoint:
        """Refresh every remaining key; returns the last committed checkpoint (complete at the end)."""
        self.expected_total = checkpoint.pass_records + self._count_keys(connection, checkpoint.cursor)
        while True:
            keys = self._next_keys(connection, checkpoint.cursor)
            if not keys:
                return self._commit(connection, checkpoint, {}, {}, last_key=None)
            answers, errors = self._look_up([str(key) for key in keys])
            by_stored_key = {key: answers[str(key)] for key in keys if str(key) in answers}
            checkpoint = self._commit(connection, checkpoint, by_stored_key, errors, last_key=keys[-1])
            self.pages += 1
            if self._on_batch is not None:
                self._on_batch(checkpoint)
            if self._stop.is_set():
                return checkpoint

    def _count_keys(self, connection: Connection, after: Any) -> int:
        """How many keys are left after `after`, with the same filter as `_next_keys`: one COUNT, for
        the progress bar's total (keys added or removed meanwhile make it an estimate)."""
        query = select(func.count()).select_from(self._keys_table).where(self._filter)
        if after is not None:
            query = query.where(self._key > after)
        try:
            with connection.begin():
                return int(connection.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise SinkError(
                f"counting keys in {self._source.keys.table} failed: {getattr(exc, 'orig', exc)}"
            ) from exc

    def _next_keys(self, connection: Connection, after: Any) -> list[Any]:
        query = select(self._key).where(self._filter).order_by(self._key).limit(self._batch_size)
        if after is not None:
            query = query.where(self._key > after)
        try:
            with connection.begin():
                return list(connection.execute(query).scalars())
        except SQLAlchemyError as exc:
            raise SinkError(
                f"reading keys from {self._source.keys.table} failed: {getattr(exc, 'orig', exc)}"
            ) from exc

    # --- asking the API --------------------------------------------------------------------------------

    def _look_up(self, keys: list[str]) -> tuple[dict[str, JSONObject], dict[str, str]]:
        """Answers by key, and an error for every key without one."""
        try:
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
        now = datetime.now(UTC)
        letters = [DeadLetter(key, "{}", self._redactor.redact(error)) for key, error in errors.items()]
        values: dict[Any, list[Any]] = {}
        for key, answer in answers.items():
            try:
                values[key] = self._mapper.values(answer)
            except RecordError as exc:
                if self._fail_on_record_error:
                    raise RecordError(f"key {key}: {exc}", key=str(key)) from None
                raw = self._redactor.redact(jsontext.dumps_for_display(answer))
                letters.append(DeadLetter(str(key), raw, self._redactor.redact(f"key {key}: {exc}")))
        is_done = last_key is None
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_done else last_key,
            is_complete=is_done,
            pass_records=checkpoint.pass_records + len(values) + len(letters),
            last_synced_at=now,
        )
        try:
            with connection.begin():
                counts = self._write(connection, values, now)
                if not self._dry_run:
                    deadletters.resolve(connection, self._pipeline, (str(key) for key in values))
                    if letters:
                        deadletters.add(connection, self._pipeline, self._run_id, letters, now)
                    checkpoints.save(connection, self._pipeline, following)
                    if self._live_record is not None:
                        self._live_record.add(
                            connection,
                            counts,
                            deleted=0,
                            failed=len(letters),
                            pages=0 if is_done else 1,
                            checkpoint=following,
                        )
            if self._live_record is not None and not self._dry_run:
                self._live_record.settle()
        except SQLAlchemyError as exc:
            raise SinkError(f"writing lookup answers failed: {getattr(exc, 'orig', exc)}") from exc
        self.counts += counts
        self.records += len(values) + len(letters)
        if not self._dry_run:
            self.batches_committed += 1
        self.failures.extend(RecordFailure(letter.key, letter.error) for letter in letters)
        return following

    def _bind(self, values: list[Any]) -> list[Any]:
        if self._dialect == "sqlite":
            return _bindable_in_sqlite(values)
        return [jsontext.dumps(value) if isinstance(value, dict | list) else value for value in values]

    def _write(self, connection: Connection, values: dict[Any, list[Any]], now: datetime) -> WriteCounts:
        """Update the listed columns of rows whose answer changed; only mark the others as seen."""
        if not values:
            return WriteCounts()
        keys = list(values)
        rows = self._rows
        current = select(self._row_key, *(rows.c[name] for name in self._columns)).where(
            self._row_key.in_(keys)
        )
        stored = {row[0]: tuple(row[1:]) for row in connection.execute(current)}
        changed = [
            key
            for key in keys
            if key not in stored or not self._mapper.same_as_stored(stored[key], values[key])
        ]
        changed_set = set(changed)
        unchanged = [key for key in keys if key not in changed_set]
        if not self._dry_run:
            moment = stamp(now)
            if changed:
                names = [*self._columns, SEEN_AT_COLUMN]
                statement = (
                    update(rows)
                    .where(self._row_key == bindparam("lookup_key"))
                    .values({name: bindparam(f"new_{name}") for name in names})
                )
                parameters = [
                    {
                        "lookup_key": key,
                        **{
                            f"new_{name}": value
                            for name, value in zip(names, [*self._bind(values[key]), moment], strict=True)
                        },
                    }
                    for key in changed
                ]
                connection.execute(statement, parameters)
            if unchanged:
                connection.execute(
                    update(rows).where(self._row_key.in_(unchanged)).values({SEEN_AT_COLUMN: moment})
                )
        return WriteCounts(updated=len(changed), unchanged=len(unchanged))


def _bindable_in_sqlite(values: Sequence[Any]) -> list[Any]:
    """Python values as SQLite's driver takes them (psycopg takes Decimal, datetime and dicts itself)."""
    bound: list[Any] = []
    for value in values:
        if isinstance(value, datetime):
            bound.append(stamp(value))
        elif isinstance(value, dict | list):
            bound.append(jsontext.dumps(value, sort_keys=True))
        elif value is not None and not isinstance(value, str | int | float):
            bound.append(str(value))  # Decimal
        else:
            bound.append(value)
    return bound


def prepare_lookup_table(
    engine: Engine, source: LookupSourceConfig, destination: DestinationConfig, dry_run: bool
) -> None:
    """The keys table must exist with the key and every listed column; batchsync adds only its
    `_batchsync_seen_at` column (how fresh each row is). Raises ConfigError or SinkError."""
    name = source.keys.table
    try:
        if not inspect(engine).has_table(name):
            raise ConfigError(f"source.keys.table: the table {name} does not exist")
        existing = {item["name"] for item in inspect(engine).get_columns(name)}
        needed = [source.keys.column, *destination.columns, *source.keys.where]
        missing = [item for item in needed if item not in existing]
        if missing:
            raise ConfigError(f"table {name} has no column {', '.join(missing)}")
        if SEEN_AT_COLUMN not in existing and not dry_run:
            keys_table = Table(name, MetaData(), Column(SEEN_AT_COLUMN, Text()))
            with engine.begin() as connection:
                connection.execute(AddColumn(keys_table, keys_table.c[SEEN_AT_COLUMN]))
    except SQLAlchemyError as exc:
        raise SinkError(f"preparing table {name} failed: {getattr(exc, 'orig', exc)}") from exc

"""Fan-out: one child sync per eligible entity (e.g. per active, non-demo user with auto-sync providers).

Entities come from a local table or an API list; declared rules decide who is eligible, and an entity
with nothing to sync is skipped with a reason, never counted as a failure. Each eligible entity's
children are synced one after another with their own checkpoints (`pipeline/entity/child`); entities run
one at a time or up to `concurrency` at once, and one entity's failure never stops the others. The
parent checkpoint lists the entities done, so an interrupted fan-out resumes with the rest.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import Engine, MetaData, Table, select

from batchsync.config import (
    ChildrenConfig,
    Config,
    EntitiesConfig,
    FanoutSourceConfig,
    PipelineConfig,
    RestSourceConfig,
    Rule,
    render_template,
)
from batchsync.config.pipeline import http_secret_values
from batchsync.database import database_errors, open_database
from batchsync.engine.ending import end_run, release_after_crash
from batchsync.engine.options import Progress, ProgressCallback, RunOptions
from batchsync.engine.run import PipelineRun
from batchsync.errors import BatchsyncError, ConfigError, DatabaseCallError, SinkError
from batchsync.http.auth import build_auth
from batchsync.http.client import HttpClient
from batchsync.logs import run_context
from batchsync.models import (
    Checkpoint,
    EntityResult,
    EntityStatus,
    JSONObject,
    RecordFailure,
    RunResult,
    RunStatus,
    WriteCounts,
)
from batchsync.paths import MISSING, DottedPath
from batchsync.redaction import Redactor
from batchsync.rules import first_failing
from batchsync.sinks.where import where_clause
from batchsync.sources.pull import PullSource
from batchsync.state import checkpoints, runs
from batchsync.state.leases import Lease
from batchsync.state.tables import ensure_state_tables

log = logging.getLogger("batchsync.fanout")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """Whether an entity is synced, which of its children, or why it is skipped."""

    entity: JSONObject
    id: str
    label: str | None
    children: list[tuple[str, JSONObject]]
    skip_reason: str | None = None


def run_fanout(
    config: Config,
    name: str,
    options: RunOptions,
    *,
    only: Sequence[str] = (),
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Sync every eligible entity of fan-out pipeline `name`. Never raises for entity failures.
    `on_progress` hears of entities done out of all, and of the records and pages of their syncs."""
    run_id = str(uuid.uuid4())
    with run_context(run_id, name):
        return FanoutRun(
            config, name, options, run_id, only, stop or threading.Event(), on_progress
        ).execute()


class FanoutRun:
    def __init__(
        self,
        config: Config,
        name: str,
        options: RunOptions,
        run_id: str,
        only: Sequence[str],
        stop: threading.Event,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        pipeline = config.pipeline(name)
        if not isinstance(pipeline.source, FanoutSourceConfig):
            raise ConfigError(f"{name} is not a fan-out pipeline")
        self.config = config
        self.name = name
        self.pipeline = pipeline
        self.source: FanoutSourceConfig = pipeline.source
        self.options = options
        self.run_id = run_id
        self.only = {item.strip() for item in only if item.strip()}
        self.stop = stop
        self._lock = threading.Lock()
        self.api_calls = 0
        self.pages = 0
        self.committed_batches = 0
        self.failures: list[RecordFailure] = []
        self.on_progress = on_progress
        self._entities_done = 0
        self._entities_total = 0
        self._child_progress: dict[str, Progress] = {}  # by child state key: the latest report of each
        self.unknown: list[str] = []
        """Ids --only named that are no entity at all (an entity the rules skip is reported as skipped)."""
        self._entity_count = 0

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC)
        engine = open_database(
            self.config.database,
            read_only=self.options.dry_run,
            state_schema=self.config.state_schema,
            sink_errors=True,
        )
        try:
            if not self.options.dry_run:
                ensure_state_tables(engine)
            decisions = [self._decide(engine, entity) for entity in self._entities(engine)]
            if self.only:
                self.unknown = sorted(self.only - {decision.id for decision in decisions})
                decisions = [decision for decision in decisions if decision.id in self.only]
            if self.options.dry_run:
                return self._result(started_at, [self._dry(decision) for decision in decisions], None)
            lease = Lease(engine, self.name, self.run_id, self.pipeline.lease_seconds)
            lease.acquire(started_at)
            try:
                result = self._run(engine, decisions, started_at)
            except BaseException:
                release_after_crash(engine, lease)
                raise
            return end_run(engine, result, lease)
        finally:
            engine.dispose()

    def _run(self, engine: Engine, decisions: list[Decision], started_at: datetime) -> RunResult:
        done, checkpoint = self._progress(engine)
        runs.record_start(engine, self.run_id, self.name, self.options.trigger, started_at)
        pending = [decision for decision in decisions if decision.id not in done]
        self._entities_total = len(decisions)
        self._entities_done = len(decisions) - len(pending)  # done by the run this one resumes
        self._entity_count = len(decisions)
        results = self._run_all(engine, pending, done, checkpoint)
        is_complete = not self.stop.is_set() and len(results) == len(pending)
        if is_complete and not self.only:
            self._save(engine, checkpoint, done, is_complete=True)
        return self._result(started_at, results, None if is_complete else "interrupted")

    # --- who, and whether -------------------------------------------------------------------------------

    def _entities(self, engine: Engine) -> list[JSONObject]:
        entities = self.source.entities
        if entities.table is not None:
            return _rows(engine, entities.table, entities.where, order_by=entities.id_field)
        return self._entities_from_api(entities)

    def _entities_from_api(self, entities: EntitiesConfig) -> list[JSONObject]:
        assert entities.api is not None
        try:
            source = RestSourceConfig.model_validate({"type": "rest", **entities.api})
        except ValidationError as exc:
            raise ConfigError(f"pipelines.{self.name}.source.entities.api: {exc}") from exc
        redactor = Redactor(self.config.env_secrets | http_secret_values(source))
        with httpx.Client() as token_client:
            auth = build_auth(source.auth, token_client, redactor)
            with HttpClient(
                source.base_url,
                headers=source.headers,
                auth=auth,
                redactor=redactor,
                allowed_hosts=source.allowed_hosts,
            ) as client:
                pages = PullSource(source, client)
                records: list[JSONObject] = []
                cursor = pages.first_cursor()
                while True:
                    page = pages.fetch_page(cursor)
                    records.extend(page.records)
                    cursor = pages.next_cursor(page, cursor)
                    if cursor is None:
                        return records

    def _decide(self, engine: Engine, entity: JSONObject) -> Decision:
        entities = self.source.entities
        entity_id = _field(entity, entities.id_field)
        label = _field(entity, entities.label_field) if entities.label_field else None
        failed = _first_failing(entities.rules, entity)
        if failed is not None:
            return Decision(entity, entity_id, label, [], skip_reason=failed)
        children_config = self.source.children
        if children_config is None:
            return Decision(entity, entity_id, label, [(entity_id, {})])
        children = self._children(engine, children_config, entity_id)
        if not children:
            return Decision(entity, entity_id, label, [], skip_reason=f"no {children_config.table}")
        eligible, reasons = [], []
        for child in children:
            reason = _first_failing(children_config.rules, child)
            if reason is None:
                eligible.append((_field(child, children_config.id_field), child))
            else:
                reasons.append(reason)
        if not eligible:
            return Decision(
                entity, entity_id, label, [], skip_reason=f"no eligible {children_config.table}: {reasons[0]}"
            )
        return Decision(entity, entity_id, label, eligible)

    def _children(self, engine: Engine, children: ChildrenConfig, entity_id: str) -> list[JSONObject]:
        rows = _rows(engine, children.table, children.where, order_by=children.id_field)
        return [row for row in rows if str(row.get(children.entity_column)) == entity_id]

    # --- syncing ------------------------------------------------------------------------------------------

    def _run_all(
        self, engine: Engine, decisions: list[Decision], done: set[str], checkpoint: Checkpoint
    ) -> list[EntityResult]:
        def one(decision: Decision) -> EntityResult | None:
            if self.stop.is_set():
                return None
            result = self._sync_entity(decision)
            if result is None:  # interrupted part-way: not done, the resumed fan-out syncs it again
                return None
            with self._lock:  # processed, whatever the outcome: a resumed fan-out goes on with the rest
                done.add(decision.id)
                if not self.only:
                    self._save(engine, checkpoint, done, is_complete=False)
                self._entities_done += 1
                self._report_progress()
            return result

        if self.source.concurrency == 1:
            outcomes = [one(decision) for decision in decisions]
        else:
            with ThreadPoolExecutor(
                max_workers=self.source.concurrency, thread_name_prefix="batchsync-entity"
            ) as pool:
                outcomes = list(pool.map(one, decisions))
        return [outcome for outcome in outcomes if outcome is not None]

    def _sync_entity(self, decision: Decision) -> EntityResult | None:
        """The entity's outcome, or None when a stop interrupted it before all its children were done."""
        started = time.monotonic()
        if decision.skip_reason is not None:
            log.info("%s: skipped (%s)", decision.id, decision.skip_reason)
            return EntityResult(
                decision.id, decision.label, EntityStatus.SKIPPED, reason=decision.skip_reason
            )
        counts, errors = WriteCounts(), []
        for child_id, child in decision.children:
            if self.stop.is_set():
                return None
            try:
                result = self._sync_child(decision, child_id, child)
            except BatchsyncError as exc:  # this child cannot run (config, database): the entity fails
                errors.append(f"{child_id}: {exc}")
                continue
            if result.status is RunStatus.CANCELLED:
                return None
            counts += result.counts
            with self._lock:
                self.failures.extend(result.failures)
                self.api_calls += result.api_calls
                self.pages += result.pages
                self.committed_batches += result.committed_batches
            if result.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
                errors.append(f"{child_id}: {result.error or result.status.value}")
        duration = time.monotonic() - started
        status = EntityStatus.FAILED if errors else EntityStatus.SUCCESS
        log.info("%s: %s", decision.id, status.value)
        return EntityResult(
            decision.id,
            decision.label,
            status,
            error="; ".join(errors) or None,
            counts=counts,
            duration_seconds=duration,
            children=len(decision.children),
        )

    def _sync_child(self, decision: Decision, child_id: str, child: JSONObject) -> RunResult:
        fields = {"entity": decision.entity, "child": child}
        try:
            rendered = render_template({"type": "rest", **self.source.child_source}, fields)
            source = RestSourceConfig.model_validate(rendered)
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"child_source for entity {decision.id}: {exc}") from exc
        pipeline = PipelineConfig.model_validate(
            {
                **self.pipeline.model_dump(by_alias=True, exclude={"source"}),
                "source": source.model_dump(by_alias=True),
            }
        )
        state_key = f"{self.name}/{decision.id}/{child_id}"
        run = PipelineRun(
            self.config,
            self.name,
            self.options,
            self.stop,
            functools.partial(self._child_progressed, state_key),
            pipeline=pipeline,
            state_key=state_key,
            record_run=False,
            run_id=self.run_id,
        )
        return run.execute()

    # --- progress and results -----------------------------------------------------------------------

    def _child_progressed(self, state_key: str, progress: Progress) -> None:
        with self._lock:
            self._child_progress[state_key] = progress
            self._report_progress()

    def _report_progress(self) -> None:
        """Entities done out of all, with the records and pages of every child sync so far (in flight
        or finished). Called with `_lock` held, so reports from concurrent entities never interleave."""
        if self.on_progress is None:
            return
        children = self._child_progress.values()
        counts = WriteCounts()
        for child in children:
            counts += child.counts
        self.on_progress(
            Progress(
                pages=sum(child.pages for child in children),
                records=sum(child.records for child in children),
                pass_records=self._entities_done,
                expected_total=self._entities_total,
                counts=counts,
                is_pass_complete=self._entities_done == self._entities_total,
                entities_done=self._entities_done,
                entities_total=self._entities_total,
            )
        )

    def _progress(self, engine: Engine) -> tuple[set[str], Checkpoint]:
        with engine.connect() as connection:
            stored = checkpoints.load(connection, self.name)
        if stored is not None and stored.is_started and not self.options.full_refresh and not self.only:
            done = set(stored.cursor.get("done", [])) if isinstance(stored.cursor, dict) else set()
            log.info("%s: resuming a fan-out with %d entities already done", self.name, len(done))
            return done, stored
        return set(), Checkpoint(cursor={"done": []}, pass_started_at=datetime.now(UTC), fingerprint="fanout")

    def _save(self, engine: Engine, checkpoint: Checkpoint, done: set[str], *, is_complete: bool) -> None:
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_complete else {"done": sorted(done)},
            is_complete=is_complete,
            pass_records=len(done),
            last_synced_at=datetime.now(UTC),
        )
        # The run's row says how far the fan-out is; its child syncs add their batches to the row's counts.
        position = runs.RunPosition(
            {"entities_done": len(done), "entities": self._entity_count}, is_pass_complete=is_complete
        )
        try:
            with engine.begin() as connection:
                checkpoints.save(connection, self.name, following)
                runs.record_batch(connection, self.run_id, runs.BatchTally(), position)
        except DatabaseCallError as exc:
            raise SinkError(f"cannot save the fan-out's progress: {exc.reason}") from exc
        self.committed_batches += 1

    def _dry(self, decision: Decision) -> EntityResult:
        if decision.skip_reason is not None:
            return EntityResult(
                decision.id, decision.label, EntityStatus.SKIPPED, reason=decision.skip_reason
            )
        names = ", ".join(child_id for child_id, _ in decision.children)
        return EntityResult(
            decision.id,
            decision.label,
            EntityStatus.WOULD_SYNC,
            reason=f"{len(decision.children)} to sync: {names}",
            children=len(decision.children),
        )

    def _result(
        self, started_at: datetime, results: list[EntityResult], interruption: str | None
    ) -> RunResult:
        statuses = [result.status for result in results]
        successful = statuses.count(EntityStatus.SUCCESS)
        failed = statuses.count(EntityStatus.FAILED)
        skipped = statuses.count(EntityStatus.SKIPPED)
        counts = WriteCounts()
        for result in results:
            counts += result.counts
        if interruption:
            status = RunStatus.CANCELLED
        elif not results or (failed and not successful and not skipped):
            status = RunStatus.FAILED
        elif failed or self.failures:  # an entity failed, or some of the records it synced did
            status = RunStatus.PARTIAL
        else:
            status = RunStatus.SUCCEEDED
        verb = "Bulk sync dry run" if self.options.dry_run else "Bulk sync completed"
        if interruption:
            verb = "Bulk sync interrupted"
        if self.options.dry_run:
            would = statuses.count(EntityStatus.WOULD_SYNC)
            message = f"{verb}: {would} would be synced, {skipped} skipped"
        else:
            message = f"{verb}: {successful} successful, {failed} failed, {skipped} skipped"
        if not results:
            message = "no entities to sync" + (f" ({self._unknown_ids()})" if self.unknown else "")
        return RunResult(
            run_id=self.run_id,
            pipeline=self.name,
            trigger=self.options.trigger,
            status=status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            api_calls=self.api_calls,
            pages=self.pages,
            counts=counts,
            is_pass_complete=interruption is None,
            dry_run=self.options.dry_run,
            error=interruption if interruption else (message if not results else None),
            entities=tuple(results),
            message=message,
            failures=tuple(self.failures),
            warnings=(self._unknown_ids(),) if self.unknown and results else (),
            only=tuple(sorted(self.only)),
            committed_batches=self.committed_batches,
        )

    def _unknown_ids(self) -> str:
        """`--only nobody: no entity has that id (in table users, by id)`: which ids did nothing, and why."""
        entities = self.source.entities
        origin = f"table {entities.table}" if entities.table else "the entities the API lists"
        ids = ", ".join(self.unknown)
        verb = "has that id" if len(self.unknown) == 1 else "has these ids"
        return f"--only {ids}: no entity {verb} (in {origin}, by {entities.id_field})"


def _rows(engine: Engine, name: str, where: dict[str, Any], *, order_by: str) -> list[JSONObject]:
    try:
        with database_errors():  # a missing table is reflection's own error, not the database's
            table = Table(name, MetaData(), autoload_with=engine)
    except DatabaseCallError as exc:
        raise ConfigError(f"table {name} cannot be read: {exc.reason}") from exc
    if order_by not in table.c:
        raise ConfigError(f"table {name} has no column {order_by!r}")
    query = select(table).where(where_clause(table, where)).order_by(table.c[order_by])
    with engine.connect() as connection:
        return [
            {str(key): value for key, value in row.items()} for row in connection.execute(query).mappings()
        ]


def _field(record: JSONObject, path: str | None) -> str:
    value = DottedPath.parse(path).get(record) if path else MISSING
    if value is MISSING or value is None:
        raise ConfigError(f"an entity has no {path!r} field")
    return str(value)


def _first_failing(rules: list[Rule], record: JSONObject) -> str | None:
    """The skip reason of the first rule the record fails, or None when it passes them all."""
    failure = first_failing(rules, record)
    return None if failure is None else failure.reason

"""`GET /metrics`: Prometheus figures read from the database at each scrape, so they are right after a
restart and count runs started anywhere (the CLI, cron, another service), not just this process's.

A custom collector (prometheus-client's documented way to export values kept elsewhere) runs a few
grouped queries over `batchsync_runs` and the destination tables. Nothing here carries a secret or a
record's data: only pipeline names, statuses and numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, MetaData, Table, case, func, select

from batchsync.config import Config
from batchsync.errors import BatchsyncError
from batchsync.models import RunStatus
from batchsync.sinks.schema import table_exists
from batchsync.state.tables import runs, state_table_exists

log = logging.getLogger("batchsync.service")

DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
_OUTCOMES = ("created", "updated", "unchanged", "failed")


def metrics_registry(engine: Engine, config: Config) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, config))
    return registry


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine, config: Config) -> None:
        self._engine = engine
        self._config = config

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self._collect())
        except BatchsyncError as exc:  # an unreachable database: say so in the figures, not with a 500
            log.warning("metrics: cannot read the database: %s", exc)
            up = GaugeMetricFamily("batchsync_database_up", "Whether the database answered the scrape.")
            up.add_metric([], 0)
            return [up]

    def _collect(self) -> Iterator[Metric]:
        runs_by_status = CounterMetricFamily(
            "batchsync_runs", "Runs recorded, by pipeline and status.", labels=["pipeline", "status"]
        )
        records = CounterMetricFamily(
            "batchsync_records",
            "Records written by runs, by pipeline and outcome.",
            labels=["pipeline", "outcome"],
        )
        calls = CounterMetricFamily("batchsync_api_calls", "API requests sent by runs.", labels=["pipeline"])
        retries = CounterMetricFamily(
            "batchsync_api_retries", "API requests retried by runs.", labels=["pipeline"]
        )
        running = GaugeMetricFamily("batchsync_runs_running", "Runs in progress now.", labels=["pipeline"])
        last_success = GaugeMetricFamily(
            "batchsync_last_success_timestamp_seconds",
            "When the pipeline's last succeeded run ended (Unix time).",
            labels=["pipeline"],
        )
        rows = GaugeMetricFamily(
            "batchsync_table_rows", "Rows in the pipeline's table.", labels=["pipeline", "table"]
        )
        durations = HistogramMetricFamily(
            "batchsync_run_duration_seconds", "Durations of ended runs.", labels=["pipeline"]
        )
        up = GaugeMetricFamily("batchsync_database_up", "Whether the database answered the scrape.")
        with self._engine.connect() as connection:
            if state_table_exists(connection, runs):
                self._run_figures(connection, runs_by_status, records, calls, retries, running, last_success)
                self._durations(connection, durations)
            for name, pipeline in sorted(self._config.pipelines.items()):
                destination = pipeline.destination
                if not table_exists(connection, destination.table, destination.db_schema):
                    continue
                table = Table(destination.table, MetaData(), schema=destination.db_schema)
                count = connection.execute(select(func.count()).select_from(table)).scalar_one()
                rows.add_metric([name, destination.table], count)
        up.add_metric([], 1)
        yield from (runs_by_status, records, calls, retries, running, last_success, rows, durations, up)

    def _run_figures(
        self,
        connection: Connection,
        runs_by_status: CounterMetricFamily,
        records: CounterMetricFamily,
        calls: CounterMetricFamily,
        retries: CounterMetricFamily,
        running: GaugeMetricFamily,
        last_success: GaugeMetricFamily,
    ) -> None:
        grouped = connection.execute(
            select(
                runs.c.pipeline,
                runs.c.status,
                func.count(),
                *(func.sum(runs.c[outcome]) for outcome in _OUTCOMES),
                func.sum(runs.c.api_calls),
                func.sum(runs.c.retries),
            ).group_by(runs.c.pipeline, runs.c.status)
        ).all()
        totals: dict[str, list[int]] = {}
        calls_by_pipeline: dict[str, tuple[int, int]] = {}
        running_by_pipeline = {name: 0 for name in self._config.pipelines}
        for pipeline, status, count, *sums in grouped:
            runs_by_status.add_metric([pipeline, status], count)
            outcome_sums, (api_calls, retried) = sums[: len(_OUTCOMES)], sums[len(_OUTCOMES) :]
            kept = totals.setdefault(pipeline, [0] * len(_OUTCOMES))
            for index, value in enumerate(outcome_sums):
                kept[index] += int(value or 0)
            before = calls_by_pipeline.get(pipeline, (0, 0))
            calls_by_pipeline[pipeline] = (before[0] + int(api_calls or 0), before[1] + int(retried or 0))
            if status == RunStatus.RUNNING.value:
                running_by_pipeline[pipeline] = count
        for pipeline, sums_of in sorted(totals.items()):
            for outcome, value in zip(_OUTCOMES, sums_of, strict=True):
                records.add_metric([pipeline, outcome], value)
        for pipeline, (api_calls, retried) in sorted(calls_by_pipeline.items()):
            calls.add_metric([pipeline], api_calls)
            retries.add_metric([pipeline], retried)
        for pipeline, count in sorted(running_by_pipeline.items()):
            running.add_metric([pipeline], count)
        succeeded = connection.execute(
            select(runs.c.pipeline, func.max(runs.c.finished_at))
            .where(runs.c.status == RunStatus.SUCCEEDED.value)
            .group_by(runs.c.pipeline)
        ).all()
        for pipeline, finished_at in succeeded:
            if finished_at:
                last_success.add_metric([pipeline], datetime.fromisoformat(finished_at).timestamp())

    def _durations(self, connection: Connection, durations: HistogramMetricFamily) -> None:
        """Counted per bucket in SQL: a long history costs the database one grouped scan, not a transfer."""
        seconds = runs.c.duration_seconds
        per_bucket = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        found = connection.execute(
            select(runs.c.pipeline, func.count(), func.sum(seconds), *per_bucket)
            .where(seconds.is_not(None))
            .group_by(runs.c.pipeline)
        ).all()
        for pipeline, count, total, *cumulative in sorted(found):
            buckets = [
                (str(bound), float(n or 0)) for bound, n in zip(DURATION_BUCKETS, cumulative, strict=True)
            ]
            buckets.append(("+Inf", float(count)))
            durations.add_metric([pipeline], buckets, sum_value=float(total or 0))

"""Webhooks from `batchsync serve`: when a run ends in a state its pipeline's `notify.on` lists, POST the
run's summary to `notify.webhook`, signed, and retried with backoff until delivered or out of attempts.

Ended runs are read from `batchsync_runs`, so a run started anywhere (the API, the scheduler, the CLI in
another terminal, cron) is reported, as long as a service is up when it ends: runs ending while no
service runs are not reported later. Each delivery and each attempt is claimed in the database
(state/deliveries.py), so several services on one database deliver once.

The signature follows GitHub's and Stripe's: `X-Batchsync-Signature: sha256=HEX`, the HMAC-SHA256 with
the shared secret of `TIMESTAMP.BODY` (the `X-Batchsync-Timestamp` header, a dot, the raw body bytes). A
receiver recomputes it over the bytes it got and refuses old timestamps, so a captured delivery cannot
be replayed later. The body holds no secret: it passes the service's redactor.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, RowMapping, select

from batchsync import __version__
from batchsync.config import Config
from batchsync.config.notify import NotifyConfig
from batchsync.errors import BatchsyncError
from batchsync.redaction import Redactor
from batchsync.service.shapes import RUN_BRIEF_KEYS
from batchsync.state import deliveries, runs
from batchsync.state.tables import runs as runs_table
from batchsync.timestamps import stamp

log = logging.getLogger("batchsync.notify")

POLL_SECONDS = 1.0
_SUMMARY_KEYS = (
    *RUN_BRIEF_KEYS,
    "filtered",
    "retries",
    "is_pass_complete",
    "error_details",
    "warnings",
    "drift",
    "totals",
    "entities",
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Batchsync-Signature` value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Notifier:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        redactor: Redactor,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = POLL_SECONDS,
    ) -> None:
        self._engine = engine
        self._config = config
        self._redactor = redactor
        self._clock = clock
        self._interval = interval
        self._since = clock()
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(
            follow_redirects=False, headers={"User-Agent": f"batchsync/{__version__}"}
        )

    @property
    def has_receivers(self) -> bool:
        return any(self._config.notify_for(name) for name in self._config.pipelines)

    def start(self) -> None:
        if not self.has_receivers:
            return
        self._thread = threading.Thread(target=self._loop, name="batchsync-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._claim_ended_runs()
                for row in deliveries.due(self._engine, self._clock()):
                    self._attempt(row)
            except BatchsyncError as exc:  # the database is away: try again at the next tick
                log.warning("webhooks: cannot read the database: %s", exc)

    def _claim_ended_runs(self) -> None:
        with self._engine.connect() as connection:
            ended = connection.execute(
                select(
                    runs_table.c.run_id, runs_table.c.pipeline, runs_table.c.status, runs_table.c.finished_at
                )
                .where(runs_table.c.finished_at >= stamp(self._since))
                .order_by(runs_table.c.finished_at)
            ).all()
        for run_id, pipeline, status, _ in ended:
            if run_id in self._seen:
                continue
            self._seen.add(run_id)
            notify = self._config.notify_for(pipeline)
            if notify is None or status not in notify.on:
                continue
            deliveries.claim(
                self._engine,
                run_id=run_id,
                webhook=notify.webhook,
                target=notify.target,
                pipeline=pipeline,
                event=status,
            )

    def _attempt(self, row: RowMapping) -> None:
        notify = self._config.notify_for(row["pipeline"])
        if notify is None or deliveries.target_key(notify.webhook) != row["target_key"]:
            return  # the config changed since: that receiver is not ours to call any more
        if not deliveries.take_attempt(self._engine, row, timedelta(seconds=notify.timeout * 2 + 5)):
            return
        body = self._body(row["run_id"])
        answer, is_delivered = self._post(notify, row["run_id"], row["event"], body)
        attempts = int(row["attempts"]) + 1
        next_at = None
        if not is_delivered and attempts < notify.max_attempts:
            next_at = self._clock() + timedelta(seconds=notify.backoff * 2 ** (attempts - 1))
        if not is_delivered:
            log.warning(
                "webhook for run %s to %s: attempt %d failed (%s)%s",
                row["run_id"],
                notify.target,
                attempts,
                answer,
                "" if next_at else "; giving up",
            )
        deliveries.record_attempt(
            self._engine, row, answer=answer, is_delivered=is_delivered, next_attempt_at=next_at
        )

    def _body(self, run_id: str) -> bytes:
        with self._engine.connect() as connection:
            [row] = runs.find(connection, run_id=run_id, limit=1)
        found = runs.row_as_dict(row)
        summary: dict[str, Any] = {key: found[key] for key in _SUMMARY_KEYS if key in found}
        summary["event"] = f"run.{found['status']}"
        return self._redactor.redact(orjson.dumps(summary).decode()).encode()

    def _post(self, notify: NotifyConfig, run_id: str, event: str, body: bytes) -> tuple[str, bool]:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Batchsync-Event": f"run.{event}",
            "X-Batchsync-Delivery": run_id,
            "X-Batchsync-Timestamp": timestamp,
        }
        if notify.secret:
            headers["X-Batchsync-Signature"] = signature(notify.secret, timestamp, body)
        try:
            response = self._client.post(
                notify.webhook, content=body, headers=headers, timeout=notify.timeout
            )
        except httpx.HTTPError as exc:
            return self._redactor.redact(f"request failed: {type(exc).__name__}"), False
        return str(response.status_code), response.is_success

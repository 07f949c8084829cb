"""Small frozen values passed between the layers: requests, pages, checkpoints and run results.

Nothing here does I/O. Paginators, the HTTP client, sinks and the engine all speak in these types, so
each layer can be tested without the others.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

JSONValue: TypeAlias = Any
"""Anything `orjson.loads` can return: dict, list, str, int, float, bool or None.

Spelled `Any` because mypy cannot check a recursive alias well; the name says what is meant.
"""
JSONObject: TypeAlias = dict[str, Any]
Cursor: TypeAlias = Any
"""A paginator's position as a plain JSON value (offset, page number, token, URL), stored verbatim in the
checkpoint so a restarted run begins exactly there."""


class PickledByFields:
    """A frozen, slotted dataclass that pickles as its class and its fields' values, in order.

    Such a dataclass otherwise pickles through the `__getstate__` that `dataclasses` gives it, which
    looks its fields up again for every object; the values a run and its writer process send each other
    for every page (engine/offload/wire.py) are these, and that lookup cost more than the rest of the
    pickling. Every field must be an `__init__` argument, as it is in the classes that use this."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]]

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return self.__class__, tuple([getattr(self, name) for name in self.__match_args__])


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One GET the source will send: a URL (absolute, or a path under the source's base URL) and its
    query parameters. Paginators return new requests; they never change one."""

    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    json: JSONValue = None
    """A JSON body (lookups that POST their keys); None sends no body."""

    def with_params(self, **params: str) -> PageRequest:
        return PageRequest(self.url, {**self.params, **params}, self.method, self.json)


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A successful HTTP answer whose body parsed as JSON."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: JSONValue
    text: bytes | None = None
    """The body as it came, when the client kept it: `body` parsed from these bytes."""


@dataclass(frozen=True, slots=True)
class RecordsText(PickledByFields):
    """Where a page's records are in the JSON text they were parsed from: `body` parsed again gives them,
    at `records_path` (None: the body is the list). A writer process is handed these bytes rather than
    the records written out again (engine/offload/wire.py)."""

    body: bytes
    records_path: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection: the answer and the records found at the source's `records_path`."""

    response: JsonResponse
    records: list[JSONObject]
    text: RecordsText | None = None
    """`records` as text, when the source took them unchanged from the body (a REST pull does)."""


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Trigger(enum.StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    API = "api"


@dataclass(frozen=True, slots=True)
class Checkpoint(PickledByFields):
    """Where a pipeline stands, committed in the same transaction as the rows it describes.

    A *pass* walks the collection from its first page to its last. `cursor` is the page the pass fetches
    next and `skip_records` how many of that page's records are already committed (non-zero only when a
    page is written in several database batches). Incremental syncs send `pass_watermark` with every
    request of the pass; `watermark` is the value the *next* pass may safely start from.
    """

    cursor: Cursor = None
    skip_records: int = 0
    is_complete: bool = False
    pass_started_at: datetime | None = None
    pass_records: int = 0
    pass_watermark: JSONValue = None
    watermark: JSONValue = None
    max_seen_watermark: JSONValue = None
    fingerprint: str = ""
    total_expected: int | None = None
    last_synced_at: datetime | None = None
    settings: dict[str, str] = field(default_factory=dict)
    """The settings `fingerprint` stands for, by name (page size, `--param`s…), so a pass refused for
    other settings can say which changed. Empty in checkpoints from before they were kept."""

    @property
    def is_started(self) -> bool:
        """True once any record of the current pass has been committed."""
        return self.pass_started_at is not None and not self.is_complete


@dataclass(frozen=True, slots=True)
class DeadLetterReport(PickledByFields):
    """What a run reports of one dead letter: the record (or key) that could not be synced, with the
    reason a user can act on. The stored form, with the record's JSON, is `state.deadletters.DeadLetter`.
    Public as `batchsync.RecordFailure`, its name before dead letters had one name in the code."""

    key: str | None
    error: str


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Records that appeared or vanished at the front of a collection while it was paged by position."""

    inserted: int = 0
    deleted: int = 0

    @property
    def is_drift(self) -> bool:
        return self.inserted > 0 or self.deleted > 0


@dataclass(frozen=True, slots=True)
class WriteCounts(PickledByFields):
    """What one database batch did, as the database saw it, and how many records of it the source's
    `record_filter` left out (`filtered`: not written, so not part of `total`)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    filtered: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.filtered + other.filtered,
        )

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


class EntityStatus(enum.StrEnum):
    SUCCEEDED = "success"
    """Named like `RunStatus.SUCCEEDED`; the value stays "success" because users read it: the `status` of
    an entity in `--json` and the runs' history."""
    FAILED = "failed"
    SKIPPED = "skipped"
    WOULD_SYNC = "would sync"  # dry runs


@dataclass(frozen=True, slots=True)
class EntityResult:
    """One account of a fan-out: what happened to it and why."""

    id: str
    label: str | None
    status: EntityStatus
    reason: str | None = None
    error: str | None = None
    counts: WriteCounts = WriteCounts()
    duration_seconds: float = 0.0
    children: int = 0

    def to_dict(self) -> JSONObject:
        return {
            "id": self.id,
            "label": self.label,
            "status": self.status.value,
            "reason": self.reason,
            "error": self.error,
            "created": self.counts.created,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "filtered": self.counts.filtered,
            "children": self.children,
            "duration_seconds": round(self.duration_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run, as recorded in `batchsync_runs` and printed by the CLI."""

    run_id: str
    pipeline: str
    trigger: Trigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime
    api_calls: int
    pages: int
    counts: WriteCounts
    is_pass_complete: bool
    dry_run: bool = False
    error: str | None = None
    dead_letters: tuple[DeadLetterReport, ...] = ()
    warnings: tuple[str, ...] = ()
    drift: DriftReport = DriftReport()
    retries: int = 0
    deleted: int = 0
    entities: tuple[EntityResult, ...] = ()
    message: str | None = None
    only: tuple[str, ...] = ()
    """The ids `--only` named: the run synced just those and left the pass (and its checkpoint) alone."""
    committed_batches: int = 0
    """Database transactions the run committed (rows, dead letters or progress): 0 means it changed
    nothing, and a next run starts where the runs before this one left the pass."""

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def total_synced(self) -> int:
        return self.counts.total

    @property
    def failures(self) -> tuple[DeadLetterReport, ...]:
        """`dead_letters` by the name the README gave it: kept for users' code."""
        return self.dead_letters

    def dead_letter_details(self) -> list[JSONObject]:
        """The dead letters as `error_details` shows them, in `--json` and in the runs' history."""
        return [{"key": letter.key, "error": letter.error} for letter in self.dead_letters]

    def to_dict(self) -> JSONObject:
        """The run as plain JSON, the shape `--json` prints."""
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "trigger": self.trigger.value,
            "status": self.status.value,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "api_calls": self.api_calls,
            "retries": self.retries,
            "pages": self.pages,
            "total_synced": self.total_synced,
            "created": self.counts.created,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "filtered": self.counts.filtered,
            "deleted": self.deleted,
            # "failed" and "errors" both count the dead letters: both are kept for users' scripts.
            "failed": len(self.dead_letters),
            "errors": len(self.dead_letters),
            "is_pass_complete": self.is_pass_complete,
            "committed_batches": self.committed_batches,
            "only": list(self.only),
            "error": self.error,
            "error_details": self.dead_letter_details(),
            "warnings": list(self.warnings),
            "drift": {"inserted": self.drift.inserted, "deleted": self.drift.deleted},
            **self.fanout_dict(),
        }

    def fanout_dict(self) -> JSONObject:
        """A fan-out's entities and their totals (empty for other runs): in `--json` and the run's row."""
        if not self.entities and self.message is None:
            return {}
        by_status = [entity.status for entity in self.entities]
        return {
            "message": self.message,
            "totals": {
                "total": len(self.entities),
                "successful": by_status.count(EntityStatus.SUCCEEDED),
                "failed": by_status.count(EntityStatus.FAILED),
                "skipped": by_status.count(EntityStatus.SKIPPED),
            },
            "entities": [entity.to_dict() for entity in self.entities],
        }

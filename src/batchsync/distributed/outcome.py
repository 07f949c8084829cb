"""What one unit of a distributed run came to, as JSON in its `batchsync_units` row: written by the
worker that ran it, read by the run's own process, which adds it to the run's result as if the unit had
run in a thread beside it. Pure: values to JSON and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from batchsync.models import (
    DeadLetterReport,
    DriftReport,
    EntityResult,
    EntityStatus,
    JSONObject,
    RunResult,
    RunStatus,
    Trigger,
    WriteCounts,
)


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    entity: EntityResult | None
    """A fan-out entity's or a range's result; None for a whole pull, or when the unit was interrupted."""
    status: RunStatus
    counts: WriteCounts
    api_calls: int = 0
    pages: int = 0
    retries: int = 0
    committed_batches: int = 0
    deleted: int = 0
    is_pass_complete: bool = False
    error: str | None = None
    dead_letters: tuple[DeadLetterReport, ...] = ()
    warnings: tuple[str, ...] = ()
    drift: DriftReport = DriftReport()  # noqa: RUF009 - frozen, so one shared default is safe

    @classmethod
    def of_runs(
        cls, entity: EntityResult | None, results: list[RunResult], *, status: RunStatus
    ) -> UnitOutcome:
        """The unit's outcome from the runs of its parts (a fan-out entity's children, or one run)."""
        counts = WriteCounts()
        for each in results:
            counts += each.counts
        last = results[-1] if results else None
        return cls(
            entity=entity,
            status=status,
            counts=counts,
            api_calls=sum(each.api_calls for each in results),
            pages=sum(each.pages for each in results),
            retries=sum(each.retries for each in results),
            committed_batches=sum(each.committed_batches for each in results),
            deleted=sum(each.deleted for each in results),
            is_pass_complete=bool(last and last.is_pass_complete),
            error=last.error if last else None,
            dead_letters=tuple(letter for each in results for letter in each.dead_letters),
            warnings=tuple(warning for each in results for warning in each.warnings),
            drift=last.drift if last else DriftReport(),
        )

    @classmethod
    def failed(cls, error: str) -> UnitOutcome:
        return cls(entity=None, status=RunStatus.FAILED, counts=WriteCounts(), error=error)

    def as_run_result(self, run_id: str, pipeline: str, trigger: Trigger, started_at: datetime) -> RunResult:
        return RunResult(
            run_id=run_id,
            pipeline=pipeline,
            trigger=trigger,
            status=self.status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            api_calls=self.api_calls,
            pages=self.pages,
            counts=self.counts,
            is_pass_complete=self.is_pass_complete,
            error=self.error,
            dead_letters=self.dead_letters,
            warnings=self.warnings,
            drift=self.drift,
            retries=self.retries,
            deleted=self.deleted,
            committed_batches=self.committed_batches,
        )

    def to_json(self) -> JSONObject:
        return {
            "entity": None if self.entity is None else _entity_json(self.entity),
            "status": self.status.value,
            "counts": _counts_json(self.counts),
            "api_calls": self.api_calls,
            "pages": self.pages,
            "retries": self.retries,
            "committed_batches": self.committed_batches,
            "deleted": self.deleted,
            "is_pass_complete": self.is_pass_complete,
            "error": self.error,
            "dead_letters": [{"key": letter.key, "error": letter.error} for letter in self.dead_letters],
            "warnings": list(self.warnings),
            "drift": {"inserted": self.drift.inserted, "deleted": self.drift.deleted},
        }

    @classmethod
    def from_json(cls, data: JSONObject) -> UnitOutcome:
        entity = data.get("entity")
        drift = data.get("drift") or {}
        assert isinstance(drift, dict)
        return cls(
            entity=_entity_of(entity) if isinstance(entity, dict) else None,
            status=RunStatus(str(data["status"])),
            counts=_counts_of(data.get("counts")),
            api_calls=_int(data.get("api_calls")),
            pages=_int(data.get("pages")),
            retries=_int(data.get("retries")),
            committed_batches=_int(data.get("committed_batches")),
            deleted=_int(data.get("deleted")),
            is_pass_complete=bool(data.get("is_pass_complete")),
            error=None if data.get("error") is None else str(data["error"]),
            dead_letters=tuple(
                DeadLetterReport(
                    None if each.get("key") is None else str(each["key"]), str(each.get("error"))
                )
                for each in _list(data.get("dead_letters"))
                if isinstance(each, dict)
            ),
            warnings=tuple(str(each) for each in _list(data.get("warnings"))),
            drift=DriftReport(_int(drift.get("inserted")), _int(drift.get("deleted"))),
        )


def _entity_json(entity: EntityResult) -> JSONObject:
    return {
        "id": entity.id,
        "label": entity.label,
        "status": entity.status.value,
        "reason": entity.reason,
        "error": entity.error,
        "counts": _counts_json(entity.counts),
        "duration_seconds": entity.duration_seconds,
        "children": entity.children,
    }


def _entity_of(data: JSONObject) -> EntityResult:
    def text(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    return EntityResult(
        id=str(data["id"]),
        label=text("label"),
        status=EntityStatus(str(data["status"])),
        reason=text("reason"),
        error=text("error"),
        counts=_counts_of(data.get("counts")),
        duration_seconds=float(str(data.get("duration_seconds") or 0.0)),
        children=_int(data.get("children")),
    )


def _counts_json(counts: WriteCounts) -> JSONObject:
    return {
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "filtered": counts.filtered,
    }


def _counts_of(data: object) -> WriteCounts:
    if not isinstance(data, dict):
        return WriteCounts()
    return WriteCounts(
        _int(data.get("created")),
        _int(data.get("updated")),
        _int(data.get("unchanged")),
        _int(data.get("filtered")),
    )


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float, str)) and str(value).strip() else 0


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []

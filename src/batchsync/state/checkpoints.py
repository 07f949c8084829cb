"""Reading and writing checkpoints. `save` runs inside the caller's transaction, beside the batch's rows.

A checkpoint is stored as one JSON document per pipeline: adding a field later needs no migration, and
`decode(encode(c)) == c` holds for every checkpoint (a property test checks it).

A pipeline's units of work (a fan-out's child syncs, a partitioned pull's ranges, a distributed lookup's
shards) keep checkpoints of their own, under keys `unit_key` makes: `NAME/...`. A pipeline name is a
plain identifier (config/pipeline.py), so it never holds a `/`, and everything under `NAME/` belongs to
pipeline NAME alone: `remove_with_units` forgets exactly what the pipeline owns.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Insert, Update, bindparam, delete, insert, select, update

from batchsync import jsontext
from batchsync.errors import CheckpointError, DatabaseCallError, SinkError
from batchsync.models import Checkpoint
from batchsync.state.tables import checkpoints
from batchsync.timestamps import stamp

_DATETIME_FIELDS = ("pass_started_at", "last_synced_at")
_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(Checkpoint))


def encode(checkpoint: Checkpoint) -> str:
    """The checkpoint as JSON text. Its fields read directly, not through `dataclasses.asdict`, which
    deep-copies every value first: this runs once per committed batch."""
    fields = {name: getattr(checkpoint, name) for name in _FIELD_NAMES}
    for name in _DATETIME_FIELDS:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat()
    return jsontext.dumps(fields)


def decode(text: str) -> Checkpoint:
    try:
        fields: dict[str, Any] = jsontext.parse(text, fractions_as_decimal=False)
        if not isinstance(fields, dict):
            raise TypeError(f"expected a JSON object, found {type(fields).__name__}")
        known = {field.name for field in dataclasses.fields(Checkpoint)}
        fields = {name: value for name, value in fields.items() if name in known}
        for name in _DATETIME_FIELDS:
            if fields.get(name) is not None:
                fields[name] = datetime.fromisoformat(fields[name])
        if not isinstance(fields.get("settings", {}), dict):
            raise TypeError(f"settings must be an object, found {type(fields['settings']).__name__}")
        return Checkpoint(**fields)
    except (jsontext.InvalidJsonError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the stored checkpoint cannot be read ({exc}); run `batchsync reset`") from exc


def load(connection: Connection, pipeline: str) -> Checkpoint | None:
    try:
        text = connection.execute(
            select(checkpoints.c.state).where(checkpoints.c.pipeline == pipeline)
        ).scalar_one_or_none()
    except DatabaseCallError as exc:
        raise SinkError(f"cannot read the checkpoint of {pipeline}: {exc.reason}") from exc
    return None if text is None else decode(text)


def _save_statements() -> tuple[Update, Insert]:
    """Built once, for every batch of every run: a statement built per batch costs SQLAlchemy several
    times what the UPDATE itself does (the same lesson as runs.record_batch's). The UPDATE comes first
    because every save but a pipeline's very first finds the row."""
    values: dict[str, Any] = {"state": bindparam("state"), "updated_at": bindparam("updated_at")}
    return (
        update(checkpoints).where(checkpoints.c.pipeline == bindparam("for_pipeline")).values(values),
        insert(checkpoints).values(pipeline=bindparam("for_pipeline"), **values),
    )


_UPDATE, _INSERT = _save_statements()


def save(connection: Connection, pipeline: str, checkpoint: Checkpoint) -> None:
    """One UPDATE inside the caller's transaction (an INSERT as well, the first time)."""
    values = {"for_pipeline": pipeline, "state": encode(checkpoint), "updated_at": stamp(datetime.now(UTC))}
    try:
        if connection.execute(_UPDATE, values).rowcount == 0:
            connection.execute(_INSERT, values)
    except DatabaseCallError as exc:
        raise SinkError(f"cannot save the checkpoint of {pipeline}: {exc.reason}") from exc


def unit_key(pipeline: str, *parts: str) -> str:
    """The checkpoint key of one of `pipeline`'s units: `pipeline/part/part…` (a fan-out's child
    `NAME/ENTITY/CHILD`, a range `NAME/partition/LO..HI`, a shard `NAME/shard/AFTER..LAST`). Every
    unit's key is made here, so `remove_with_units` finds them all."""
    return "/".join((pipeline, *parts))


def remove_with_units(connection: Connection, pipeline: str) -> int:
    """Forget the pipeline's checkpoint and every one of its units' (the keys under `pipeline/`); how
    many. `startswith` escapes the prefix, so a `_` in the name matches only itself."""
    result = connection.execute(
        delete(checkpoints).where(
            (checkpoints.c.pipeline == pipeline)
            | checkpoints.c.pipeline.startswith(unit_key(pipeline, ""), autoescape=True)
        )
    )
    return result.rowcount

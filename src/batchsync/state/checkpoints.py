"""Reading and writing checkpoints. `save` runs inside the caller's transaction, beside the batch's rows.

A checkpoint is stored as one JSON document per pipeline: adding a field later needs no migration, and
`decode(encode(c)) == c` holds for every checkpoint (a property test checks it).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from batchsync import jsontext
from batchsync.errors import CheckpointError, DatabaseCallError, SinkError
from batchsync.models import Checkpoint
from batchsync.state.tables import checkpoints
from batchsync.timestamps import stamp

_DATETIME_FIELDS = ("pass_started_at", "last_synced_at")


def encode(checkpoint: Checkpoint) -> str:
    fields = dataclasses.asdict(checkpoint)
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


def save(connection: Connection, pipeline: str, checkpoint: Checkpoint) -> None:
    values = {"state": encode(checkpoint), "updated_at": stamp(datetime.now(UTC))}
    try:
        result = connection.execute(
            update(checkpoints).where(checkpoints.c.pipeline == pipeline).values(**values)
        )
        if result.rowcount == 0:
            connection.execute(insert(checkpoints).values(pipeline=pipeline, **values))
    except DatabaseCallError as exc:
        raise SinkError(f"cannot save the checkpoint of {pipeline}: {exc.reason}") from exc


def remove(connection: Connection, pipeline: str) -> bool:
    """Forget the pipeline's checkpoint; True when there was one."""
    result = connection.execute(delete(checkpoints).where(checkpoints.c.pipeline == pipeline))
    return result.rowcount > 0


def remove_under(connection: Connection, prefix: str) -> int:
    """Forget every checkpoint whose key starts with `prefix` (a partitioned pull's ranges); how many."""
    result = connection.execute(
        delete(checkpoints).where(checkpoints.c.pipeline.startswith(prefix, autoescape=True))
    )
    return result.rowcount

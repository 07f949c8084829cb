"""The bodies the control API accepts, as pydantic models: FastAPI validates them (422 naming the field)
and describes them in `/openapi.json`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from batchsync.config import Condition
from batchsync.config.pipeline import MAX_CONCURRENCY
from batchsync.models import Trigger


class RunRequest(BaseModel):
    """`POST /api/pipelines/{name}/runs`: every field optional, each the twin of a `batchsync run` flag."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int | None = Field(None, ge=1, le=1_000_000, description="Records per API request.")
    db_batch_size: int | None = Field(None, ge=1, le=1_000_000, description="Rows per transaction.")
    concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY, description="Requests in flight.")
    full_refresh: bool = Field(False, description="Ignore the watermark: walk the whole collection.")
    dry_run: bool = Field(False, description="Fetch and report what would change; write nothing.")
    only: list[str] = Field(
        default_factory=list, max_length=10_000, description="Just these record ids, or fan-out entities."
    )
    filter: dict[str, Condition] = Field(
        default_factory=dict, description='A lookup\'s key filters, e.g. {"prd": {"ilike": "%Office%"}}.'
    )
    params: dict[str, str] = Field(default_factory=dict, description="Query parameters for this run.")
    trigger: Trigger = Field(Trigger.API, description="The label in the run history.")


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable word: not_found, unauthorized, conflict, invalid_request, …")
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error the API answers has this shape."""

    error: ErrorDetail

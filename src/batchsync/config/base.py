"""What every config model shares: strict, frozen pydantic models and a few name rules."""

from __future__ import annotations

import re

from pydantic import (
    BaseModel,
    ConfigDict,
)

from batchsync.paths import DottedPath

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASS|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
SECRET_PARAM = re.compile(r"key|token|secret|password|signature|auth", re.IGNORECASE)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_path(value: str | None) -> str | None:
    if value is not None:
        DottedPath.parse(value)
    return value

"""`notify:` (top level, or per pipeline, which then wins): where `batchsync serve` POSTs a run's summary
when the run ends in one of the listed states, signed with the shared secret."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from batchsync.config.base import Model

NotifiedStatus = Literal["succeeded", "partial", "failed", "cancelled"]
DEFAULT_ON: tuple[NotifiedStatus, ...] = ("failed", "partial")


class NotifyConfig(Model):
    webhook: str
    """The receiver's URL (http or https). Treated as a secret: chat webhooks carry their key in it."""
    on: list[NotifiedStatus] = Field(default_factory=lambda: list(DEFAULT_ON), min_length=1)
    secret: str | None = None
    """Signs each delivery (HMAC-SHA256, `X-Batchsync-Signature`); give it as `${WEBHOOK_SECRET}`."""
    max_attempts: int = Field(5, ge=1, le=20)
    backoff: float = Field(1.0, gt=0, le=3600)
    """Seconds before the second attempt; each later wait doubles."""
    timeout: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true: take it for `on`."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return url

    @property
    def target(self) -> str:
        """Where deliveries go, as shown to people: the scheme and host, never the path or query."""
        parts = urlsplit(self.webhook)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    def secret_values(self) -> set[str]:
        return {value for value in (self.webhook, self.secret) if value}

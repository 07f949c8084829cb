"""Config of the HTTP side of a source: paginators, auth, incremental sync, retries, timeouts, rate limits,
and the `rest` source that combines them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)

from batchsync.config.base import SECRET_PARAM, Model, check_path
from batchsync.config.rules import Rule
from batchsync.redaction import basic_token

if TYPE_CHECKING:
    from batchsync.config.sources import FanoutSourceConfig

# --- paginators ---------------------------------------------------------------------------------------


class OffsetPaginatorConfig(Model):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: PositiveInt = 100
    has_more_path: str | None = None
    total_path: str | None = None

    _paths = field_validator("has_more_path", "total_path")(check_path)


class PageNumberPaginatorConfig(Model):
    type: Literal["page_number"]
    page_param: str = "page"
    size_param: str | None = "per_page"
    page_size: PositiveInt = 100
    start: int = Field(1, ge=0)
    has_more_path: str | None = None
    total_pages_path: str | None = None

    _paths = field_validator("has_more_path", "total_pages_path")(check_path)


class CursorPaginatorConfig(Model):
    type: Literal["cursor"]
    cursor_param: str
    next_cursor_path: str | None = None
    cursor_from_last_record: str | None = None
    has_more_path: str | None = None
    limit_param: str | None = None
    limit: PositiveInt | None = None

    _paths = field_validator("next_cursor_path", "cursor_from_last_record", "has_more_path")(check_path)

    @model_validator(mode="after")
    def _one_cursor_source(self) -> CursorPaginatorConfig:
        if (self.next_cursor_path is None) == (self.cursor_from_last_record is None):
            raise ValueError("set exactly one of next_cursor_path or cursor_from_last_record")
        if (self.limit_param is None) != (self.limit is None):
            raise ValueError("limit_param and limit go together")
        return self


class LinkHeaderPaginatorConfig(Model):
    type: Literal["link_header"]
    size_param: str | None = None
    page_size: PositiveInt | None = None


class NextUrlPaginatorConfig(Model):
    type: Literal["next_url"]
    next_url_path: str
    size_param: str | None = None
    page_size: PositiveInt | None = None

    _paths = field_validator("next_url_path")(check_path)


PaginatorConfig = Annotated[
    OffsetPaginatorConfig
    | PageNumberPaginatorConfig
    | CursorPaginatorConfig
    | LinkHeaderPaginatorConfig
    | NextUrlPaginatorConfig,
    Field(discriminator="type"),
]


# --- auth ---------------------------------------------------------------------------------------------


class BearerAuthConfig(Model):
    type: Literal["bearer"]
    token: SecretStr


class ApiKeyAuthConfig(Model):
    type: Literal["api_key"]
    name: str
    value: SecretStr
    location: Literal["header", "query"] = Field("header", alias="in")


class BasicAuthConfig(Model):
    type: Literal["basic"]
    username: str
    password: SecretStr


def _has_token_placeholder(header_format: str) -> str:
    if "{token}" not in header_format:
        raise ValueError("must contain {token}")
    return header_format


class _OAuth2Config(Model):
    """What both OAuth2 grants share: where tokens come from and how they are sent."""

    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    header_format: str = "Bearer {token}"
    refresh_margin_seconds: float = Field(60.0, ge=0)

    _header = field_validator("header_format")(_has_token_placeholder)


class OAuth2RefreshTokenConfig(_OAuth2Config):
    type: Literal["oauth2_refresh_token"]
    refresh_token: SecretStr


class OAuth2ClientCredentialsConfig(_OAuth2Config):
    type: Literal["oauth2_client_credentials"]


AuthConfig = Annotated[
    BearerAuthConfig
    | ApiKeyAuthConfig
    | BasicAuthConfig
    | OAuth2RefreshTokenConfig
    | OAuth2ClientCredentialsConfig,
    Field(discriminator="type"),
]


# --- source, destination, pipeline ---------------------------------------------------------------------


class IncrementalConfig(Model):
    cursor_path: str
    param: str
    param_template: str | None = None
    initial_value: str | int | float | None = None
    sorted: bool = False

    _paths = field_validator("cursor_path")(check_path)

    @field_validator("initial_value", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        """YAML reads an unquoted 2024-01-01 as a date; the API wants it as text."""
        return value.isoformat() if isinstance(value, date) else value

    @field_validator("param_template")
    @classmethod
    def _template_has_value(cls, template: str | None) -> str | None:
        if template is not None and "{value}" not in template:
            raise ValueError("must contain {value}")
        return template


class TimeoutConfig(Model):
    """Seconds to wait for a connection and for each read of an answer."""

    connect: float = Field(10.0, gt=0)
    read: float = Field(60.0, gt=0)


class RetryConfig(Model):
    """How hard to try a request that failed in a way worth retrying."""

    max_attempts: int = Field(6, ge=1)
    backoff: float = Field(0.5, ge=0)
    max_backoff: float = Field(60.0, ge=0)
    retry_on: list[int] = Field(default_factory=lambda: [429, 500, 502, 503, 504])

    @field_validator("retry_on")
    @classmethod
    def _http_statuses(cls, statuses: list[int]) -> list[int]:
        for status in statuses:
            if not 400 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP error status (400-599)")
        return statuses


class RateLimitConfig(Model):
    """The most requests per second (or minute) the pipeline sends, whatever its concurrency."""

    requests_per_second: float | None = Field(None, gt=0)
    requests_per_minute: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _exactly_one_rate(self) -> RateLimitConfig:
        if (self.requests_per_second is None) == (self.requests_per_minute is None):
            raise ValueError("set exactly one of requests_per_second or requests_per_minute")
        return self

    @property
    def per_second(self) -> float:
        if self.requests_per_second is not None:
            return self.requests_per_second
        assert self.requests_per_minute is not None
        return self.requests_per_minute / 60.0


class HttpEndpointConfig(Model):
    """Where a source's requests go and how they authenticate: shared by `rest` and `lookup` sources."""

    base_url: str
    path: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    allowed_hosts: list[str] = Field(default_factory=list)
    """Hosts beside base_url's own that next-page links may lead to, credentials included: `host`,
    `host:port` or `*.domain` (Salesforce instance URLs, pages served from a CDN)."""

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            name = host.removeprefix("*.")
            if not name or any(mark in host for mark in ("/", "@", "?", "#", " ")) or name.startswith("."):
                raise ValueError(f"{host!r} is not a host name (write api.example.com, not a URL)")
        return hosts

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url.rstrip("/")

    def query_params(self) -> dict[str, str]:
        """Params as the strings that go on the wire (YAML may give numbers and booleans)."""
        return {
            name: ("true" if value is True else "false" if value is False else str(value))
            for name, value in self.params.items()
        }

    def secret_values(self) -> set[str]:
        """Every value that must never be printed: credentials and secret-looking params and headers."""
        secrets: set[str] = set()
        if self.auth is not None:
            for value in self.auth.__dict__.values():
                if isinstance(value, SecretStr):
                    secrets.add(value.get_secret_value())
            if isinstance(self.auth, BasicAuthConfig):
                # An echoed `Authorization: Basic …` header shows the pair only as base64.
                secrets.add(basic_token(self.auth.username, self.auth.password.get_secret_value()))
        for name, value in self.query_params().items():
            if SECRET_PARAM.search(name):
                secrets.add(value)
        for name, value in self.headers.items():
            if SECRET_PARAM.search(name) or name.lower() == "authorization":
                secrets.add(value)
        return {secret for secret in secrets if secret}


class RestSourceConfig(HttpEndpointConfig):
    type: Literal["rest"]
    paginator: PaginatorConfig | None = None
    records_path: str | None = None
    incremental: IncrementalConfig | None = None
    item_path: str | None = None
    """Targeted sync (`run --only ID,ID`): the path of one record, with {id}, e.g. /items/{id}."""
    item_record_path: str | None = None
    """Where the record is in item_path's answer (default: the answer itself), e.g. `item`."""
    ids_param: str | None = None
    """Targeted sync through the collection's list-by-ids form, e.g. `?item_ids=1,2,3`."""
    ids_separator: str = ","
    ids_batch_size: PositiveInt = 50
    record_filter: list[Rule] = Field(default_factory=list)
    """Rules every record must meet to be written (`{field: stock_on_hand, gt: 0}`), for what the API
    cannot filter itself: the others are counted as filtered, and a row they left from before is kept."""

    _paths = field_validator("records_path", "item_record_path")(check_path)

    # What the rest of batchsync asks of any source (PythonSourceConfig, LookupSourceConfig and
    # FanoutSourceConfig answer the same), so no caller has to test which kind it holds.
    pass_unit: ClassVar[str] = "records"
    """What a pass counts: records, or a fan-out's entities."""
    has_one_collection: ClassVar[bool] = True
    """A complete pass sees one whole collection, so rows it did not see are missing (on_missing)."""

    def refreshed_key(self) -> tuple[str, str] | None:
        """The table and key column a lookup refreshes in place; None for a source that brings rows."""
        return None

    def describe(self) -> tuple[str, str]:
        """Where the source reads from, and what kind of sync it is, for tables."""
        return self.base_url + self.path, self.paginator.type if self.paginator else "single page"

    def as_fanout(self) -> FanoutSourceConfig | None:
        """The fan-out's config when this source is a fan-out (one child sync per entity), else None."""
        return None

    @field_validator("item_path")
    @classmethod
    def _has_id(cls, path: str | None) -> str | None:
        if path is not None and "{id}" not in path:
            raise ValueError("must contain {id}")
        return path

    @model_validator(mode="before")
    @classmethod
    def _timeout_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "timeout" in data:
            raise ValueError("timeout is set per pipeline: move it beside source and destination")
        return data

    @model_validator(mode="before")
    @classmethod
    def _sorted_at_source_level(cls, data: Any) -> Any:
        """Accept `sorted: true` on the source itself, as users naturally write it."""
        if isinstance(data, dict) and "sorted" in data:
            data = dict(data)
            is_sorted = data.pop("sorted")
            if not isinstance(data.get("incremental"), dict):
                raise ValueError("sorted applies to incremental sync: add an incremental block")
            data["incremental"] = {**data["incremental"], "sorted": is_sorted}
        return data

"""Config of the HTTP side of a source: paginators, auth, incremental sync, retries, timeouts, rate limits,
and the `rest` source that combines them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

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


# --- partitioned pulls ----------------------------------------------------------------------------------

MAX_PARTITIONS = 10_000
"""More ranges than this is a mistyped step (1s over a year), not a plan."""

_DURATION = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _moment(value: Any) -> Any:
    """An ISO-8601 text, a YAML datetime or a date as an aware datetime (naive taken as UTC); integers and
    `now` as they are; anything else is left for pydantic to refuse."""
    if isinstance(value, str) and value.strip() != "now":
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is neither an ISO-8601 moment nor an integer") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strip() if isinstance(value, str) else value


def _check_placeholders(template: str, wanted: set[str]) -> str:
    found = set(_PLACEHOLDER.findall(template))
    if unknown := sorted(found - wanted):
        named = " and ".join("{" + name + "}" for name in sorted(wanted))
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; the template takes {named}")
    if missing := sorted(wanted - found):
        raise ValueError(f"must contain {' and '.join('{' + name + '}' for name in missing)}")
    return template


def bound_text(bound: int | datetime) -> str:
    """A range bound as sent: an integer, or a moment in UTC as `2024-01-01T00:00:00Z`."""
    if isinstance(bound, int):
        return str(bound)
    return bound.astimezone(UTC).isoformat().replace("+00:00", "Z")


class PartitionConfig(Model):
    """One pull split into ranges [lo, hi) of a time or id filter, each synced as a unit of its own (its
    own checkpoint), up to the pipeline's `concurrency` at once. Either two params carry the bounds
    (`param_from`, `param_to`, each optionally through a `{value}` template) or one param carries both
    through `template` with `{from}` and `{to}` (query-expression APIs: `q=...`)."""

    param_from: str | None = None
    param_to: str | None = None
    from_template: str | None = None
    to_template: str | None = None
    param: str | None = None
    template: str | None = None
    start: int | datetime
    end: int | datetime | Literal["now"]
    """`now`: up to the step that holds the moment the run starts (its last range ends after it)."""
    step: int | timedelta
    """An integer for integer bounds; a duration (`90s`, `30m`, `12h`, `30d`, `2w`) for moments."""

    _moments = field_validator("start", "end", mode="before")(_moment)

    @field_validator("step", mode="before")
    @classmethod
    def _duration(cls, step: Any) -> Any:
        if isinstance(step, str):
            match = _DURATION.fullmatch(step)
            if not match or int(match.group(1)) == 0:
                raise ValueError(f"{step!r} is no step: use a positive integer or a duration like 12h, 30d")
            return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
        if isinstance(step, bool) or (isinstance(step, int) and step <= 0):
            raise ValueError(f"{step!r} is no step: use a positive integer or a duration like 12h, 30d")
        return step

    @field_validator("from_template", "to_template")
    @classmethod
    def _one_value(cls, template: str | None) -> str | None:
        return None if template is None else _check_placeholders(template, {"value"})

    @field_validator("template")
    @classmethod
    def _both_bounds(cls, template: str | None) -> str | None:
        return None if template is None else _check_placeholders(template, {"from", "to"})

    @model_validator(mode="after")
    def _one_form(self) -> PartitionConfig:
        two_params = self.param_from is not None or self.param_to is not None
        if two_params == (self.param is not None) or (self.param_from is None) != (self.param_to is None):
            raise ValueError("set param_from and param_to, or param with a template")
        if (self.param is None) != (self.template is None):
            raise ValueError("param and template go together")
        if self.param is not None and (self.from_template or self.to_template):
            raise ValueError("from_template and to_template go with param_from and param_to")
        return self

    @model_validator(mode="after")
    def _bounds(self) -> PartitionConfig:
        is_integer = isinstance(self.start, int)
        if isinstance(self.step, int) != is_integer or (self.end == "now" and is_integer):
            kinds = "integers with an integer step" if is_integer else "moments with a duration step"
            raise ValueError(f"start, end and step must all be of a kind: {kinds}")
        if self.end != "now" and isinstance(self.end, int) != is_integer:
            raise ValueError("start and end must both be integers or both ISO-8601 moments")
        if self.end != "now":
            steps = self.steps_to(self.end)
            if steps <= 0:
                ends = f"end ({bound_text(self.end)}) must come after start ({bound_text(self.start)})"
                raise ValueError(ends)
            if steps > MAX_PARTITIONS:
                raise ValueError(f"step makes {steps} ranges, more than {MAX_PARTITIONS}: use a larger step")
        return self

    def steps_to(self, end: int | datetime) -> int:
        """How many steps from start reach `end` (the last one may end past it); 0 or less before start."""
        span: Any = end - self.start  # type: ignore[operator]  # both integers or both moments: checked
        steps: int = -(-span // self.step)  # exact for integers beyond a float's 53 bits
        return steps

    def sent_params(self) -> tuple[str, ...]:
        """The query parameters the ranges set (so nothing else may set them)."""
        names = (self.param_from, self.param_to, self.param)
        return tuple(name for name in names if name is not None)

    def params_for(self, lo: str, hi: str) -> dict[str, str]:
        """The query parameters of range [lo, hi), bounds already as text."""
        if self.param is not None and self.template is not None:
            return {self.param: self.template.replace("{from}", lo).replace("{to}", hi)}
        assert self.param_from is not None and self.param_to is not None
        return {
            self.param_from: self.from_template.replace("{value}", lo) if self.from_template else lo,
            self.param_to: self.to_template.replace("{value}", hi) if self.to_template else hi,
        }


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
    partition: PartitionConfig | None = None
    """Split the pull into ranges of a filter, synced in parallel with a checkpoint each."""

    _paths = field_validator("records_path", "item_record_path")(check_path)

    # What the rest of batchsync asks of any source (PythonSourceConfig, LookupSourceConfig and
    # FanoutSourceConfig answer the same), so no caller has to test which kind it holds.
    @property
    def pass_unit(self) -> str:
        """What a pass counts: records, or a partitioned pull's ranges (a fan-out's: entities)."""
        return "records" if self.partition is None else "ranges"

    @property
    def has_one_collection(self) -> bool:
        """A complete pass sees one whole collection, so rows it did not see are missing (on_missing);
        a partitioned pull's passes each see one range of it."""
        return self.partition is None

    def refreshed_key(self) -> tuple[str, str] | None:
        """The table and key column a lookup refreshes in place; None for a source that brings rows."""
        return None

    def describe(self) -> tuple[str, str]:
        """Where the source reads from, and what kind of sync it is, for tables."""
        kind = self.paginator.type if self.paginator else "single page"
        return self.base_url + self.path, kind if self.partition is None else f"{kind}, partitioned"

    def as_fanout(self) -> FanoutSourceConfig | None:
        """The fan-out's config when this source is a fan-out (one child sync per entity), else None."""
        return None

    @field_validator("item_path")
    @classmethod
    def _has_id(cls, path: str | None) -> str | None:
        if path is not None and "{id}" not in path:
            raise ValueError("must contain {id}")
        return path

    @model_validator(mode="after")
    def _partition_fits(self) -> RestSourceConfig:
        if self.partition is None:
            return self
        if self.incremental is not None:
            raise ValueError(
                "partition and incremental do not go together (yet): a partitioned pull syncs every "
                "range in full; remove one of them"
            )
        paginated = self.paginator.model_dump() if self.paginator is not None else {}
        own = {value for key, value in paginated.items() if key.endswith("_param")}
        for name in self.partition.sent_params():
            if name in self.params or name in own:
                where = "params" if name in self.params else "the paginator"
                raise ValueError(f"partition sets {name} on every request: remove it from {where}")
        return self

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

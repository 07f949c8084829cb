"""YAML → validated pydantic models, with `${ENV}` expansion. Nothing else in batchsync reads YAML.

Every problem in a file is reported at once, each with its dotted path in the file
(`pipelines.zoho_items.source.paginator.page_size: must be > 0`), so a user fixes a config in one go.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from batchsync.errors import ConfigError
from batchsync.paths import DottedPath

DEFAULT_CONFIG_FILE = "batchsync.yaml"
DEFAULT_DATABASE_URL = "sqlite:///batchsync.db"
CONFIG_ENV = "BATCHSYNC_CONFIG"
DATABASE_URL_ENV = "BATCHSYNC_DATABASE_URL"

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASS|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"key|token|secret|password|signature|auth", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_path(value: str | None) -> str | None:
    if value is not None:
        DottedPath.parse(value)
    return value


# --- paginators ---------------------------------------------------------------------------------------


class OffsetPaginatorConfig(_Model):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: PositiveInt = 100
    has_more_path: str | None = None
    total_path: str | None = None

    _paths = field_validator("has_more_path", "total_path")(_check_path)


class PageNumberPaginatorConfig(_Model):
    type: Literal["page_number"]
    page_param: str = "page"
    size_param: str | None = "per_page"
    page_size: PositiveInt = 100
    start: int = Field(1, ge=0)
    has_more_path: str | None = None
    total_pages_path: str | None = None

    _paths = field_validator("has_more_path", "total_pages_path")(_check_path)


class CursorPaginatorConfig(_Model):
    type: Literal["cursor"]
    cursor_param: str
    next_cursor_path: str | None = None
    cursor_from_last_record: str | None = None
    has_more_path: str | None = None
    limit_param: str | None = None
    limit: PositiveInt | None = None

    _paths = field_validator("next_cursor_path", "cursor_from_last_record", "has_more_path")(_check_path)

    @model_validator(mode="after")
    def _one_cursor_source(self) -> CursorPaginatorConfig:
        if (self.next_cursor_path is None) == (self.cursor_from_last_record is None):
            raise ValueError("set exactly one of next_cursor_path or cursor_from_last_record")
        if (self.limit_param is None) != (self.limit is None):
            raise ValueError("limit_param and limit go together")
        return self


class LinkHeaderPaginatorConfig(_Model):
    type: Literal["link_header"]
    size_param: str | None = None
    page_size: PositiveInt | None = None


class NextUrlPaginatorConfig(_Model):
    type: Literal["next_url"]
    next_url_path: str
    size_param: str | None = None
    page_size: PositiveInt | None = None

    _paths = field_validator("next_url_path")(_check_path)


PaginatorConfig = Annotated[
    OffsetPaginatorConfig
    | PageNumberPaginatorConfig
    | CursorPaginatorConfig
    | LinkHeaderPaginatorConfig
    | NextUrlPaginatorConfig,
    Field(discriminator="type"),
]


# --- auth ---------------------------------------------------------------------------------------------


class BearerAuthConfig(_Model):
    type: Literal["bearer"]
    token: SecretStr


class ApiKeyAuthConfig(_Model):
    type: Literal["api_key"]
    name: str
    value: SecretStr
    location: Literal["header", "query"] = Field("header", alias="in")


class BasicAuthConfig(_Model):
    type: Literal["basic"]
    username: str
    password: SecretStr


def _has_token_placeholder(header_format: str) -> str:
    if "{token}" not in header_format:
        raise ValueError("must contain {token}")
    return header_format


class _OAuth2Config(_Model):
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


class IncrementalConfig(_Model):
    cursor_path: str
    param: str
    param_template: str | None = None
    initial_value: str | int | float | None = None
    sorted: bool = False

    _paths = field_validator("cursor_path")(_check_path)

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


class TimeoutConfig(_Model):
    """Seconds to wait for a connection and for each read of an answer."""

    connect: float = Field(10.0, gt=0)
    read: float = Field(60.0, gt=0)


class RetryConfig(_Model):
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


class RateLimitConfig(_Model):
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


class RestSourceConfig(_Model):
    type: Literal["rest"]
    base_url: str
    path: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    paginator: PaginatorConfig | None = None
    records_path: str | None = None
    incremental: IncrementalConfig | None = None

    _paths = field_validator("records_path")(_check_path)

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url.rstrip("/")

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

    def query_params(self) -> dict[str, str]:
        """Params as the strings that go on the wire (YAML may give numbers and booleans)."""
        return {
            name: ("true" if value is True else "false" if value is False else str(value))
            for name, value in self.params.items()
        }


ColumnType = Literal["string", "integer", "float", "decimal", "boolean", "datetime", "json"]


class ColumnConfig(_Model):
    path: str
    type: ColumnType = "string"
    true_values: list[str] | None = None
    false_values: list[str] | None = None

    _paths = field_validator("path")(_check_path)

    @model_validator(mode="after")
    def _boolean_values_only_on_booleans(self) -> ColumnConfig:
        if self.type != "boolean" and (self.true_values or self.false_values):
            raise ValueError("true_values/false_values apply to boolean columns only")
        return self


class DestinationConfig(_Model):
    table: str
    primary_key: str
    columns: dict[str, ColumnConfig] = Field(min_length=1)
    on_missing: Literal["keep", "soft_delete", "delete"] = "keep"
    """What a complete full pass does with rows it did not see: keep them, set _batchsync_deleted_at,
    or delete them."""

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, name: str) -> str:
        if not _IDENTIFIER.match(name):
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        if name.lower().startswith("batchsync_"):
            raise ValueError("the batchsync_ prefix is reserved for batchsync's own tables")
        return name

    @field_validator("columns")
    @classmethod
    def _column_identifiers(cls, columns: dict[str, ColumnConfig]) -> dict[str, ColumnConfig]:
        for name in columns:
            if not _IDENTIFIER.match(name) or name.lower().startswith("_batchsync"):
                raise ValueError(f"column name {name!r} must be a plain identifier not starting _batchsync")
        return columns

    @model_validator(mode="after")
    def _key_is_a_column(self) -> DestinationConfig:
        if self.primary_key not in self.columns:
            raise ValueError(f"primary_key {self.primary_key!r} must be one of the columns")
        return self


class PipelineConfig(_Model):
    source: RestSourceConfig
    destination: DestinationConfig
    db_batch_size: PositiveInt = 1000
    retry: RetryConfig = Field(default_factory=RetryConfig)
    timeout: TimeoutConfig = Field(default_factory=TimeoutConfig)
    rate_limit: RateLimitConfig | None = None
    on_record_error: Literal["dead_letter", "fail"] = "dead_letter"
    on_drift: Literal["warn", "repass"] = "warn"

    def secret_values(self) -> set[str]:
        """Every value that must never be printed: credentials and secret-looking query params."""
        secrets: set[str] = set()
        auth = self.source.auth
        if auth is not None:
            for value in auth.__dict__.values():
                if isinstance(value, SecretStr):
                    secrets.add(value.get_secret_value())
        for name, value in self.source.query_params().items():
            if _SECRET_PARAM.search(name):
                secrets.add(value)
        for name, value in self.source.headers.items():
            if _SECRET_PARAM.search(name) or name.lower() == "authorization":
                secrets.add(value)
        return {secret for secret in secrets if secret}


class Config(_Model):
    database: str = DEFAULT_DATABASE_URL
    pipelines: dict[str, PipelineConfig] = Field(default_factory=dict)
    env_secrets: frozenset[str] = Field(default=frozenset(), exclude=True)
    """Values that came from secret-looking environment variables; redacted everywhere."""
    unavailable: dict[str, list[str]] = Field(default_factory=dict, exclude=True)
    """Pipelines left out because environment variables they use are not set (name → problems)."""

    @field_validator("pipelines")
    @classmethod
    def _pipeline_names(cls, pipelines: dict[str, PipelineConfig]) -> dict[str, PipelineConfig]:
        for name in pipelines:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"pipeline name {name!r} must be a plain identifier")
        return pipelines

    def pipeline(self, name: str) -> PipelineConfig:
        if name in self.unavailable:
            raise ConfigError(f"pipeline {name!r} cannot be used here", problems=self.unavailable[name])
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise ConfigError(f"no pipeline named {name!r} in the config (pipelines: {known})") from None

    def secret_values(self, pipeline: str | None = None) -> set[str]:
        names = [pipeline] if pipeline else list(self.pipelines)
        secrets = set(self.env_secrets)
        for name in names:
            if name in self.pipelines:
                secrets |= self.pipelines[name].secret_values()
        return secrets


# --- loading ------------------------------------------------------------------------------------------


def find_config_file(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """`--config`, else `$BATCHSYNC_CONFIG`, else `./batchsync.yaml`; ConfigError when it does not exist."""
    environ = os.environ if environ is None else environ
    chosen = Path(path) if path else Path(environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)
    if not chosen.is_file():
        raise ConfigError(f"config file not found: {chosen} (pass --config FILE or set {CONFIG_ENV})")
    return chosen


def load_config(
    path: Path | str | None = None,
    *,
    pipelines: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, expand and validate a config file.

    `pipelines` names the pipelines about to be used: a `${VAR}` missing in one of them (or at the top
    level) is an error, while the other pipelines keep the reference unexpanded, so a machine need not
    hold every pipeline's credentials to run one of them.
    """
    file = find_config_file(path, environ)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{where}: {exc.problem}") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: cannot be read: {exc}") from exc
    return parse_config(document, pipelines=pipelines, environ=environ, source=str(file))


def parse_config(
    document: Any,
    *,
    pipelines: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    source: str = "config",
) -> Config:
    """Validate an already-parsed document (the Python API accepts dicts too)."""
    environ = os.environ if environ is None else environ
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with 'pipelines:'")
    expansion = _Expansion(environ, pipelines)
    expanded = expansion.expand(document, ())
    if expansion.missing:
        raise ConfigError(f"{source}: environment variables not set", problems=sorted(set(expansion.missing)))
    if environ.get(DATABASE_URL_ENV):
        expanded["database"] = environ[DATABASE_URL_ENV]
    # A pipeline that is not needed now and lacks its variables is set aside rather than validated
    # with a literal "${VAR}" in, say, a URL or a number field.
    if expansion.unresolved and isinstance(expanded.get("pipelines"), dict):
        expanded["pipelines"] = {
            name: value for name, value in expanded["pipelines"].items() if name not in expansion.unresolved
        }
        expanded["unavailable"] = expansion.unresolved
    expanded["env_secrets"] = frozenset(expansion.secrets)
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        problems = [_describe(error, expanded) for error in exc.errors()]
        raise ConfigError(f"{source}: {len(problems)} problem(s)", problems=problems) from None
    if pipelines is not None:
        for name in pipelines:
            config.pipeline(name)
    return config


class _Expansion:
    """Replaces `${VAR}` in string values, remembering what is missing and what is secret."""

    def __init__(self, environ: Mapping[str, str], selected: Collection[str] | None) -> None:
        self.environ = environ
        self.selected = selected
        self.missing: list[str] = []
        self.unresolved: dict[str, list[str]] = {}
        self.secrets: set[str] = set()

    def expand(self, node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {key: self.expand(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [self.expand(value, (*path, str(index))) for index, value in enumerate(node)]
        if isinstance(node, str) and "${" in node:
            return _ENV_REFERENCE.sub(lambda match: self._lookup(match.group(1), path), node)
        return node

    def _lookup(self, name: str, path: tuple[str, ...]) -> str:
        value = self.environ.get(name)
        if value is None:
            problem = f"{'.'.join(path)}: environment variable {name} is not set"
            if self._is_required(path):
                self.missing.append(problem)
            else:
                self.unresolved.setdefault(path[1], []).append(problem)
            return "${" + name + "}"
        if _SECRET_NAME.search(name) and value:
            self.secrets.add(value)
        return value

    def _is_required(self, path: tuple[str, ...]) -> bool:
        if self.selected is None or len(path) < 2 or path[0] != "pipelines":
            return True
        return path[1] in self.selected


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda ctx: "required",
    "extra_forbidden": lambda ctx: "unknown field (check the spelling)",
    "greater_than": lambda ctx: f"must be > {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"must be >= {ctx['ge']}",
    "too_short": lambda ctx: "must not be empty",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "union_tag_not_found": lambda ctx: "needs a 'type'",
    "union_tag_invalid": lambda ctx: f"unknown type {ctx['tag']!r}; expected one of {ctx['expected_tags']}",
}


def _describe(error: Any, document: Any) -> str:
    """`dotted.path: message` for one pydantic error, without pydantic's union-tag path segments."""
    steps: list[str] = []
    node = document
    for step in error["loc"]:
        is_key = isinstance(node, dict) and step in node
        if is_key or (isinstance(node, list) and isinstance(step, int) and step < len(node)):
            node = node[step]
            steps.append(str(step))
        elif isinstance(node, dict) and node.get("type") == step:
            continue  # pydantic names the chosen union member; the file does not
        else:
            steps.append(str(step))
    message_for = _MESSAGES.get(error["type"])
    message = message_for(error.get("ctx", {})) if message_for else str(error["msg"])
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(steps) or '(top level)'}: {message}"

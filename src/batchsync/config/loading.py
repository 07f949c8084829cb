"""Reading a config file: YAML → `${ENV}` expansion → validation, every problem reported with its path.

Every problem in a file is reported at once, each with its dotted path in the file
(`pipelines.zoho_items.source.paginator.page_size: must be > 0`), so a user fixes a config in one go.
Nothing else in batchsync reads YAML.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from batchsync.config.base import ENV_REFERENCE, SECRET_NAME
from batchsync.config.execution import BROKER_URL_ENV
from batchsync.config.pipeline import Config
from batchsync.errors import ConfigError

DEFAULT_CONFIG_FILE = "batchsync.yaml"
CONFIG_ENV = "BATCHSYNC_CONFIG"
DATABASE_URL_ENV = "BATCHSYNC_DATABASE_URL"


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
        text = file.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{where}: {exc.problem}{_caret(text, mark)}") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: cannot be read: {exc}") from exc
    return parse_config(document, pipelines=pipelines, environ=environ, source=str(file))


def _caret(text: str, mark: yaml.Mark | None) -> str:
    """The offending line of the file and a caret under the column YAML names, as two more lines:

    12 |     page_size: 200: 300
       |                  ^
    """
    lines = text.splitlines()
    if mark is None or not 0 <= mark.line < len(lines):
        return ""
    line = lines[mark.line]
    number = str(mark.line + 1)
    # Tabs stay tabs under the caret, so it lands under the same character however they are shown.
    under = "".join("\t" if char == "\t" else " " for char in line[: mark.column])
    return f"\n  {number} | {line}\n  {' ' * len(number)} | {under}^"


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
    broker = environ.get(BROKER_URL_ENV)
    if broker:
        expanded["execution"] = _with_broker(expanded.get("execution"), broker)
        expansion.secrets.add(broker)
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


def _with_broker(execution: Any, broker: str) -> Any:
    """The top-level `execution` with `$BATCHSYNC_BROKER_URL` as its broker: distributed unless the file
    says `backend: local` (a pipeline's own `execution` still wins for that pipeline)."""
    if execution is None:
        return {"backend": "celery", "broker": broker}
    if isinstance(execution, dict):
        return {"backend": "celery", **execution, "broker": broker}
    return execution  # not a mapping: validation reports it


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
            return ENV_REFERENCE.sub(lambda match: self._lookup(match.group(1), path), node)
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
        if SECRET_NAME.search(name) and value:
            self.secrets.add(value)
        return value

    def _is_required(self, path: tuple[str, ...]) -> bool:
        if self.selected is None or len(path) < 2 or path[0] != "pipelines":
            return True
        return path[1] in self.selected


_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda _ctx: "required",
    "extra_forbidden": lambda _ctx: "unknown field (check the spelling)",
    "greater_than": lambda ctx: f"must be > {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"must be >= {ctx['ge']}",
    "too_short": lambda _ctx: "must not be empty",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "union_tag_not_found": lambda _ctx: "needs a 'type'",
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

"""The settings a pass's cursor depends on, by name, and what to tell a user when they changed mid-pass.

A stored cursor only means the same page under the same settings: page 6 of 200-record pages is not
page 6 of 1000-record pages, and a pass begun with `--param filter_by=Status.Active` cannot go on
without it. The checkpoint keeps the pass's fingerprint (the yes/no test, unchanged since 0.1 for a pass
without `--param`) and these settings beside it, so a refusal names the setting that changed with its
old and new values and the flag that puts it back, rather than showing two fingerprints.

Keys are stable names (`paginator`, `page_size`, `start`, `url`, `param:NAME`, `function`, `keys`);
`_LABELS` words them. Values of secret-looking parameters are stored as a digest, never as given.
`with_params` applies a run's `--param`s to its pipeline, refusing those batchsync sets itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from batchsync.config import PageNumberPaginatorConfig, RestSourceConfig, SourceConfig
from batchsync.config.base import SECRET_PARAM
from batchsync.errors import ConfigError
from batchsync.sources.paginators import make_paginator

_PARAM = "param:"
_DIGEST = "digest:"
_LABELS = {
    "paginator": "paginator",
    "page_size": "page size",
    "start": "first page (paginator.start)",
    "url": "URL",
    "function": "function",
    "keys": "keys",
}
_CONFIG_FIELDS = {
    "paginator": "paginator.type",
    "page_size": "paginator.page_size",
    "start": "paginator.start",
    "url": "the source's base_url and path",
    "function": "source.function",
    "keys": "source.keys",
}


def with_params(source: RestSourceConfig, params: Mapping[str, str]) -> RestSourceConfig:
    """`source` with this run's `--param`s over its `params`. Raises ConfigError for a parameter
    batchsync sets itself on every request (the page, the page size, the watermark): an override of
    those would be silently undone. (Other kinds of source refuse `--param` where their plan is made.)"""
    if not params:
        return source
    own = _params_set_by_batchsync(source)
    for name in params:
        if name in own:
            raise ConfigError(
                f"--param {name}: batchsync sets {name} itself on every request ({own[name]}); "
                "--batch-size sets the page size"
            )
    return source.model_copy(update={"params": {**source.params, **params}})


def _params_set_by_batchsync(source: RestSourceConfig) -> dict[str, str]:
    """Query parameters the paginator or incremental sync writes, with the setting that names each."""
    own: dict[str, str] = {}
    if source.paginator is not None:
        for setting, value in source.paginator.model_dump().items():
            if setting.endswith("_param") and isinstance(value, str):
                own[value] = f"paginator.{setting}"
    if source.incremental is not None:
        own[source.incremental.param] = "incremental.param"
    return own


def rest_settings(
    config: RestSourceConfig, page_size: int | None, params: Mapping[str, str]
) -> dict[str, str]:
    """A rest source's settings: its paginator's, its URL, and this run's `--param` overrides."""
    settings = {**make_paginator(config.paginator, page_size).settings, "url": config.base_url + config.path}
    for name in sorted(params):
        settings[_PARAM + name] = _digest(params[name]) if SECRET_PARAM.search(name) else params[name]
    return settings


def params_fingerprint(params: Mapping[str, str]) -> str:
    """What `--param` adds to a pass's fingerprint: nothing without any (so passes begun before
    `--param` existed resume as before), else a digest of them (the fingerprint holds no values)."""
    if not params:
        return ""
    text = "&".join(f"{name}={params[name]}" for name in sorted(params))
    return f"|params:{_digest(text)}"


def settings_of_fingerprint(fingerprint: str) -> dict[str, str]:
    """The settings of a checkpoint written before they were stored, read back from its fingerprint
    (`page_number:200:1|https://…/items`, `offset|…`, `python:mod:fn`, `lookup:table.column`)."""
    if fingerprint.startswith("python:"):
        return {"function": fingerprint.removeprefix("python:")}
    if fingerprint.startswith("lookup:"):
        return {"keys": fingerprint.removeprefix("lookup:")}
    head, _, url = fingerprint.partition("|")
    kind, *values = head.split(":")
    settings = {"paginator": "single page" if kind == "single" else kind}
    if kind == "page_number" and len(values) == 2:
        settings |= {"page_size": values[0], "start": values[1]}
    return settings | ({"url": url} if url else {})


def mismatch_message(
    name: str, before: Mapping[str, str], now: Mapping[str, str], source: SourceConfig
) -> str:
    """Why pipeline `name`'s unfinished pass cannot resume, in the user's terms: "page size 1000 then,
    200 now: rerun with --batch-size 1000, or run `batchsync reset NAME` to start the pass over"."""
    changes: list[str] = []
    flags: list[str] = []
    dropped: list[str] = []
    config: list[str] = []
    for key in [*now, *(key for key in before if key not in now)]:
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if key.startswith(_PARAM):
            param = key.removeprefix(_PARAM)
            changes.append(f"{_param_shown(param, old)} then, {_param_shown(param, new)} now")
            if old is None:
                dropped.append(f"--param {param}")
            else:
                flags.append(_param_shown(param, old).replace("(a secret value)", "<the value it had>"))
            continue
        changes.append(f"{_LABELS.get(key, key)} {_shown(old)} then, {_shown(new)} now")
        if old is None:
            config.append(f"{_CONFIG_FIELDS.get(key, key)} as it was")
        elif key == "page_size" and _batch_size_sets_page_size(source):
            flags.append(f"--batch-size {old}")
        else:
            config.append(f"{_CONFIG_FIELDS.get(key, key)}: {old}")
    if not changes:  # the fingerprints differ in what the stored settings do not show
        changes.append("other paging settings")
        config.append("the paging settings it was started with")
    remedies = []
    if config:
        remedies.append(f"restore {', '.join(config)} in the config")
    rerun = " ".join(
        part
        for part in (
            f"with {' '.join(flags)}" if flags else "",
            f"without {', '.join(dropped)}" if dropped else "",
        )
        if part
    )
    if rerun:
        remedies.append(f"rerun {rerun}")
    return (
        f"{name} has an unfinished pass that was started with {'; '.join(changes)}: "
        f"{' and '.join(remedies)} to resume it, or run `batchsync reset {name}` to start the pass over"
    )


def _batch_size_sets_page_size(source: SourceConfig) -> bool:
    """`--batch-size` changes a page-number paginator's page size only when the size is sent."""
    paginator = getattr(source, "paginator", None)
    return isinstance(paginator, PageNumberPaginatorConfig) and paginator.size_param is not None


def _shown(value: str | None) -> str:
    if value is None:
        return "not given"
    if value.startswith(_DIGEST):
        return "(a secret value)"
    return value


def _param_shown(name: str, value: str | None) -> str:
    return f"no --param {name}" if value is None else f"--param {name}={_shown(value)}"


def _digest(value: str) -> str:
    return _DIGEST + hashlib.sha256(value.encode()).hexdigest()[:16]

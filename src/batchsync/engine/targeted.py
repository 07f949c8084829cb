"""Targeted sync (`run NAME --only ID,ID`): fetch just the named records and upsert them.

For webhooks and after-the-fact fixes. Records come through the collection's list-by-ids form
(`ids_param`, batched) or one `item_path` request each; the pass checkpoint is left alone, so a
targeted sync never disturbs a pass in progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from batchsync.config import RestSourceConfig
from batchsync.errors import ConfigError, PermanentHttpError, TransientHttpError
from batchsync.http.client import HttpClient
from batchsync.models import JSONObject, PageRequest
from batchsync.paths import MISSING, DottedPath


def check_targetable(source: RestSourceConfig) -> None:
    if source.item_path is None and source.ids_param is None:
        raise ConfigError(
            "--only needs source.item_path (e.g. /items/{id}) or source.ids_param in the config"
        )


def fetch_by_ids(
    source: RestSourceConfig, client: HttpClient, ids: Sequence[str], key_path: str
) -> tuple[list[JSONObject], dict[str, str]]:
    """The records for `ids`, and an error for each id that could not be fetched."""
    if source.ids_param is not None:
        return _by_list(source, client, ids, DottedPath.parse(key_path))
    return _one_by_one(source, client, ids)


def _by_list(
    source: RestSourceConfig, client: HttpClient, ids: Sequence[str], key: DottedPath
) -> tuple[list[JSONObject], dict[str, str]]:
    assert source.ids_param is not None
    records_path = DottedPath.parse(source.records_path) if source.records_path else None
    found: list[JSONObject] = []
    errors: dict[str, str] = {}
    for start in range(0, len(ids), source.ids_batch_size):
        chunk = list(ids[start : start + source.ids_batch_size])
        params = {**source.query_params(), source.ids_param: source.ids_separator.join(chunk)}
        try:
            body = client.fetch(PageRequest(source.path, params)).body
        except (PermanentHttpError, TransientHttpError) as exc:
            errors |= {item: f"fetching it failed: {exc}" for item in chunk}
            continue
        records = body if records_path is None else records_path.get(body)
        records = (
            [record for record in records if isinstance(record, dict)] if isinstance(records, list) else []
        )
        answered = {str(key.get(record)) for record in records}
        found.extend(records)
        errors |= {item: "not found: the API did not return it" for item in chunk if item not in answered}
    return found, errors


def _one_by_one(
    source: RestSourceConfig, client: HttpClient, ids: Sequence[str]
) -> tuple[list[JSONObject], dict[str, str]]:
    assert source.item_path is not None
    record_path = DottedPath.parse(source.item_record_path) if source.item_record_path else None
    found: list[JSONObject] = []
    errors: dict[str, str] = {}
    for item in ids:
        path = source.item_path.replace("{id}", quote(item, safe=""))
        try:
            body = client.fetch(PageRequest(path, source.query_params())).body
        except PermanentHttpError as exc:
            errors[item] = "not found (404)" if exc.status == 404 else f"fetching it failed: {exc}"
            continue
        except TransientHttpError as exc:
            errors[item] = f"fetching it failed: {exc}"
            continue
        record = body if record_path is None else record_path.get(body)
        if record is MISSING or not isinstance(record, dict):
            errors[item] = f"the answer has no record at {source.item_record_path or 'its top level'}"
        else:
            found.append(record)
    return found, errors

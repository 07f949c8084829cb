from __future__ import annotations

import batchsync
from batchsync.models import RunStatus
from distsupport import accounts_with_pages, expected_rows, fanout_config, table_rows
from fakeapi import SampleApi


def test_a_fanout_runs_on_one_worker(api: SampleApi, postgres_url: str, redis_url: str, workers) -> None:
    accounts = accounts_with_pages(4, 3)
    config = workers.write_config(fanout_config(postgres_url, redis_url, api, accounts))
    workers.start(config, 1)
    result = batchsync.run("bank_sync", config)
    print(workers.log(0)[-3000:])
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert table_rows(postgres_url) == expected_rows(api, accounts)

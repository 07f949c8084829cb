"""Lookup batches asked N at once and committed in key order, against the key-check service: the same
table, counts and dead letters at any concurrency; N requests really out at once (and never more); and a
stop or a kill -9 mid-run leaves the checkpoint at the end of the contiguous committed prefix, which a
rerun resumes from exactly. On SQLite, and PostgreSQL for the stop and the kill."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from typing_extensions import override

import batchsync
from batchsync.engine.options import Progress
from batchsync.models import RunResult, RunStatus
from fakeapi import ApiKeyAuth, KeyService, SampleApi
from fakeapi.faults import FaultPlan, NoFaults
from fakeapi.keycheck import requested_keys
from fakeapi.keys import is_well_formed
from fakeapi.messages import ApiRequest, Response
from lookupsupport import API_KEY, lookup_config, make_keys_table, table
from syncsupport import fetch_all, write_config

BATCH = 50
ATTEMPTS = 2  # lookup_config's retry.max_attempts: a failing batch is asked twice
_WAIT = 10.0  # seconds a test machinery wait gives up after, so a broken engine fails instead of hanging


@pytest.fixture
def key_api() -> SampleApi:
    with SampleApi(keys=KeyService(size=1_500, seed=4)) as server:
        server.settings.auth = ApiKeyAuth("apikey", API_KEY, "query")
        yield server


class InFlight(FaultPlan):
    """A server-side count of key checks being answered at once. The first ones wait until `gather` are in
    (or one has waited `_WAIT`), so a client that sends that many at once is seen doing it however loaded
    the machine; `most` is the largest number seen at once. With `arrivals`, `reached` is set when that
    many checks have come in, and every later one is held until `release` is set."""

    def __init__(self, gather: int, arrivals: int = 0) -> None:
        self._lock = threading.Lock()
        self._now = self._arrived = self.most = 0
        self._gather, self._arrivals = gather, arrivals
        self._gathered = threading.Event()
        self.reached = threading.Event()
        self.release = threading.Event()

    @override
    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        with self._lock:
            self._now += 1
            self._arrived += 1
            self.most = max(self.most, self._now)
            if self._now >= self._gather:
                self._gathered.set()
            is_late = self._arrivals and self._arrived > self._arrivals
            if self._arrived == self._arrivals:
                self.reached.set()
        if not self._gathered.wait(_WAIT):
            self._gathered.set()  # they never came: stop holding the others up
        if is_late:
            self.release.wait(2 * _WAIT)
        with self._lock:
            self._now -= 1
        return response


class HoldBatch(FaultPlan):
    """Holds the key check naming `held` until `release` is set; `ahead` is set once `count` checks of keys
    after `held` have been answered (batches later in key order, answered while an earlier one is out)."""

    def __init__(self, held: str, count: int) -> None:
        self._held, self._count = held, count
        self._lock = threading.Lock()
        self._answered_after = 0
        self.release = threading.Event()
        self.ahead = threading.Event()

    @override
    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        keys = requested_keys(request) or []
        if self._held in keys:
            self.release.wait(2 * _WAIT)
        elif keys and min(keys) > self._held:
            with self._lock:
                self._answered_after += 1
                if self._answered_after >= self._count:
                    self.ahead.set()
        return response


def tagged(database_url: str, api: SampleApi, attempt: str) -> dict[str, Any]:
    """The lookup pipeline, its requests tagged `attempt=...` so the log tells one run's from another's."""
    config = lookup_config(database_url, api)
    config["pipelines"]["key_refresh"]["source"]["params"]["attempt"] = attempt
    return config


def refreshed(before: dict[str, tuple[Any, ...]], api: SampleApi) -> dict[str, tuple[Any, ...]]:
    """The keys table as a complete refresh leaves it: each Office key's row with the service's current
    answer, every other row and column as `before`."""
    rows = dict(before)
    for answer in api.keys.all():
        if "Office" in str(answer["prd"]):
            prd, *_, notes = before[str(answer["keyname_with_dash"])]
            rows[str(answer["keyname_with_dash"])] = (
                prd,
                answer["remaining"],
                answer["blocked"],
                answer["errorcode"],
                notes,
            )
    return rows


def keys_in_order(database_url: str) -> list[str]:
    """The lookup's keys as the engine reads them: the Office rows, in the database's key order."""
    rows = fetch_all(
        database_url, "SELECT keyname FROM product_keys WHERE prd LIKE '%Office%' ORDER BY keyname"
    )
    return [row[0] for row in rows]


def asked(api: SampleApi, attempt: str) -> list[list[str]]:
    """The keys of each key check one run sent (tagged by its `attempt` query parameter), in log order."""
    return [
        (requested_keys_of(r.query) or [])
        for r in api.requests
        if r.path == "/api/keycheck" and r.query.get("attempt") == attempt
    ]


def requested_keys_of(query: dict[str, str]) -> list[str]:
    return [key for key in query.get("keys", "").split(",") if key]


def expected_requests(keys: list[str], fail_keys: set[str]) -> list[list[str]]:
    """The key checks a serial lookup sends, in order: each batch of 50; a batch with a malformed key (a
    400) and then each of its halves until the key stands alone; a batch with a failing key, once per try."""
    sent: list[list[str]] = []

    def ask(batch: list[str]) -> None:
        if any(not is_well_formed(key) for key in batch):
            sent.append(batch)
            if len(batch) > 1:
                ask(batch[: len(batch) // 2])
                ask(batch[len(batch) // 2 :])
        elif any(key in fail_keys for key in batch):
            sent.extend([batch] * ATTEMPTS)
        else:
            sent.append(batch)

    for start in range(0, len(keys), BATCH):
        ask(keys[start : start + BATCH])
    return sent


def stored_checkpoint(database_url: str) -> dict[str, Any]:
    """The lookup's checkpoint as the state table holds it (the committed truth, not the run's report)."""
    (row,) = fetch_all(database_url, "SELECT state FROM batchsync_checkpoints WHERE pipeline = 'key_refresh'")
    state: dict[str, Any] = orjson.loads(row[0])
    return state


def outcome(result: RunResult, database_url: str, attempt: str) -> tuple[Any, ...]:
    """What a run did and left, comparable across runs (its tag taken out of the URLs in its errors)."""
    tag = f"attempt={attempt}&"
    errors = {letter.key: letter.error.replace(tag, "") for letter in result.dead_letters}
    return result.status, result.counts, result.pages, result.api_calls, errors, table(database_url)


def test_any_concurrency_gives_the_same_table_counts_and_dead_letters_with_n_requests_out_at_once(
    key_api: SampleApi, tmp_path: Path
) -> None:
    office = sorted(a["keyname_with_dash"] for a in key_api.keys.all() if "Office" in str(a["prd"]))
    malformed = [key[:-1] for key in office[30::170]]  # a 400: sorts just before its key, every few batches
    unknown = [key[:-1] + ("C" if key.endswith("B") else "B") for key in office[90::210]]  # not answered
    key_api.settings.lookup_fail_keys = fail_keys = {office[120], office[420], office[655]}  # 503s
    outcomes: dict[int, list[tuple[Any, ...]]] = {}
    for n in (1, 4, 8):
        url = f"sqlite:///{tmp_path / f'c{n}.db'}"
        make_keys_table(url, key_api, extra=[*malformed, *unknown])
        plan = key_api.settings.faults = InFlight(gather=n)
        first = batchsync.run("key_refresh", tagged(url, key_api, f"{n}"), concurrency=n)
        outcomes[n] = [outcome(first, url, f"{n}")]
        expected = expected_requests(keys_in_order(url), fail_keys)
        sent = asked(key_api, f"{n}")
        assert sent == expected if n == 1 else sorted(sent) == sorted(expected), f"concurrency {n}"
        assert plan.most == n, f"concurrency {n}: {plan.most} key checks out at once"
    key_api.keys.update(120, seed=3)
    for n in (1, 4, 8):
        url = f"sqlite:///{tmp_path / f'c{n}.db'}"
        again = batchsync.run("key_refresh", tagged(url, key_api, f"again-{n}"), concurrency=n)
        outcomes[n].append(outcome(again, url, f"again-{n}"))

    assert outcomes[1] == outcomes[4] == outcomes[8]
    (status, counts, _, _, errors, _), (_, counts_again, *_) = outcomes[1]
    failed = {
        key
        for batch in expected
        if all(map(is_well_formed, batch)) and fail_keys & set(batch)
        for key in batch
    }
    assert status is RunStatus.PARTIAL and set(errors) == {*malformed, *unknown} | failed
    assert len(failed) >= 3 * BATCH // 2 and counts.updated == len(set(office) - failed)
    assert counts_again.updated > 0 and counts_again.unchanged > 0, "the second run finds both"
    assert all("rejected the key" in errors[key] for key in malformed)
    assert all("not in the answer" in errors[key] for key in set(unknown) - failed)
    assert all("503" in errors[key] for key in failed)


def test_with_latency_and_concurrency_8_eight_requests_are_out_at_once_never_more(
    key_api: SampleApi, database_url: str
) -> None:
    make_keys_table(database_url, key_api)
    key_api.settings.latency_seconds = 0.02
    plan = key_api.settings.faults = InFlight(gather=8)
    config = lookup_config(database_url, key_api)
    config["pipelines"]["key_refresh"]["concurrency"] = 8  # the pipeline key, no --concurrency

    result = batchsync.run("key_refresh", config)

    keys = keys_in_order(database_url)
    assert result.status is RunStatus.SUCCEEDED and result.counts.updated == len(keys) > 8 * BATCH
    assert plan.most == 8 and result.api_calls == -(-len(keys) // BATCH)


def test_a_stop_while_an_earlier_batch_is_out_leaves_the_checkpoint_at_the_committed_prefix(
    key_api: SampleApi, database_url: str
) -> None:
    make_keys_table(database_url, key_api)
    keys, before = keys_in_order(database_url), table(database_url)
    batches = [keys[start : start + BATCH] for start in range(0, len(keys), BATCH)]
    plan = key_api.settings.faults = HoldBatch(held=batches[2][0], count=5)  # batch 2 held, later answered
    stop, two_committed = threading.Event(), threading.Event()

    def stop_once_later_batches_are_answered() -> None:
        if two_committed.wait(_WAIT) and plan.ahead.wait(_WAIT):
            stop.set()

    def on_progress(progress: Progress) -> None:
        if progress.pages == 2:
            two_committed.set()

    stopper = threading.Thread(target=stop_once_later_batches_are_answered)
    stopper.start()
    try:
        stopped = batchsync.run(
            "key_refresh",
            tagged(database_url, key_api, "1"),
            concurrency=8,
            stop=stop,
            on_progress=on_progress,
        )
    finally:
        plan.release.set()
        stopper.join()

    state, rows = stored_checkpoint(database_url), table(database_url)
    assert stop.is_set(), "later batches were answered while batch 2 was still out"
    assert stopped.status is RunStatus.CANCELLED and stopped.counts.updated == 2 * BATCH
    assert state["cursor"] == batches[1][-1] and state["pass_records"] == 2 * BATCH
    assert not state["is_complete"] and all(rows[key] != before[key] for key in keys[: 2 * BATCH])
    assert all(rows[key] == before[key] for key in keys[2 * BATCH :]), "no answer past the checkpoint"
    key_api.settings.faults = NoFaults()

    resumed = batchsync.run("key_refresh", tagged(database_url, key_api, "2"), concurrency=8)

    again = [key for request in asked(key_api, "2") for key in request]
    first = {key for request in asked(key_api, "1") for key in request}
    assert resumed.status is RunStatus.SUCCEEDED and sorted(again) == keys[2 * BATCH :], "exactly the rest"
    assert 0 < len(first & set(again)) <= 8 * BATCH
    assert table(database_url) == refreshed(before, key_api)


def test_kill_9_at_concurrency_8_then_a_rerun_resumes_exactly_after_the_committed_prefix(
    key_api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    make_keys_table(database_url, key_api)
    keys, before = keys_in_order(database_url), table(database_url)
    plan = key_api.settings.faults = InFlight(gather=8, arrivals=12)  # then every later check hangs
    config_file = write_config(tmp_path / "c.yaml", tagged(database_url, key_api, "1"))
    command = [sys.executable, "-m", "batchsync", "run", "key_refresh", "-c", str(config_file)]
    process = subprocess.Popen([*command, "-q", "--concurrency", "8"])
    try:
        assert plan.reached.wait(6 * _WAIT), "the run never sent its 12th key check"
    finally:
        process.kill()
        process.wait()
        plan.release.set()

    state, rows = stored_checkpoint(database_url), table(database_url)
    committed = keys.index(state["cursor"]) + 1
    assert committed % BATCH == 0 and state["pass_records"] == committed and not state["is_complete"]
    assert all(rows[key] != before[key] for key in keys[:committed])
    assert all(rows[key] == before[key] for key in keys[committed:]), "nothing committed past the checkpoint"
    sent_ahead = {key for request in asked(key_api, "1") for key in request} - set(keys[:committed])
    assert BATCH < len(sent_ahead) <= 8 * BATCH, "several batches were out, never more than 8"
    key_api.settings.faults = NoFaults()
    write_config(config_file, tagged(database_url, key_api, "2"))

    resumed = subprocess.run([*command, "--json", "--concurrency", "8"], capture_output=True, timeout=60)

    assert resumed.returncode == 0 and orjson.loads(resumed.stdout)["status"] == "succeeded"
    assert sorted(key for request in asked(key_api, "2") for key in request) == keys[committed:]
    assert table(database_url) == refreshed(before, key_api)

"""Webhooks from `batchsync serve`, to a real receiver on 127.0.0.1: a run ending in a listed state is
POSTed once, signed (HMAC-SHA256 over timestamp and body, verified here), with no secret in it; a failing
receiver is retried with backoff and every attempt is recorded and shown; runs started outside the
service are reported too; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

import batchsync
from fakeapi import Inventory, SampleApi
from servicesupport import RunningService, wait_until
from syncsupport import pipeline_config, url_document

SIGNING_SECRET = "whsec-for-tests-5f2b9c"
HOOK_PATH = "/hooks/T0001/B0002/hook-key-in-the-url"


class Receiver:
    """An HTTP server that records every POST and answers `failures` 500s before its first 200."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.received) <= receiver.failures
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def notified(api: SampleApi, database_url: str, receiver: Receiver, **notify: Any) -> dict[str, Any]:
    pipeline = pipeline_config(api.url)
    pipeline["source"]["params"] = {"api_key": "source-key-never-shown"}
    document = url_document(database_url, {"items": pipeline})
    document["notify"] = {"webhook": receiver.url + HOOK_PATH, "secret": SIGNING_SECRET, **notify}
    return document


def test_a_failed_run_is_posted_once_signed_and_without_secrets(
    database_url: str, receiver: Receiver
) -> None:
    with SampleApi(Inventory(size=30)) as api:
        document = notified(api, database_url, receiver, on=["failed"])
        document["pipelines"]["items"]["source"]["path"] = "/no/such/collection"  # answers 404: the run fails
        with RunningService(document) as served, served.client() as client:
            result = client.post("/api/pipelines/items/runs", params={"wait": "true"}).json()
            wait_until(lambda: receiver.received)
            shown = wait_until(
                lambda: (
                    (run := client.get(f"/api/runs/{result['run_id']}").json())["deliveries"]
                    and run["deliveries"][0]["delivered_at"]
                    and run
                )
            )

    assert result["status"] == "failed"
    [(headers, body)] = receiver.received
    expected = hmac.new(
        SIGNING_SECRET.encode(), headers["x-batchsync-timestamp"].encode() + b"." + body, hashlib.sha256
    )
    assert headers["x-batchsync-signature"] == f"sha256={expected.hexdigest()}"
    assert (
        headers["x-batchsync-event"] == "run.failed" and headers["x-batchsync-delivery"] == result["run_id"]
    )
    summary = orjson.loads(body)
    assert (summary["run_id"], summary["status"], summary["pipeline"]) == (
        result["run_id"],
        "failed",
        "items",
    )
    assert "404" in summary["error"]
    for secret in (SIGNING_SECRET, "hook-key-in-the-url", "source-key-never-shown"):
        assert secret.encode() not in body
        assert secret not in str(shown)
    [delivery] = shown["deliveries"]
    assert (delivery["attempts"], delivery["last_status"], delivery["target"]) == (1, "200", receiver.url)


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(database_url: str) -> None:
    flaky, dead = Receiver(failures=2), Receiver(failures=100)
    try:
        with SampleApi(Inventory(size=30)) as api:
            document = notified(api, database_url, flaky, on=["succeeded"], backoff=0.2)
            document["pipelines"]["other"] = pipeline_config(api.url) | {
                "notify": {
                    "webhook": dead.url + "/down",
                    "on": ["succeeded"],
                    "max_attempts": 3,
                    "backoff": 0.2,
                }
            }
            document["pipelines"]["other"]["destination"]["table"] = "others"
            with RunningService(document) as served, served.client() as client:
                first = client.post("/api/pipelines/items/runs", params={"wait": "true"}).json()
                second = client.post("/api/pipelines/other/runs", params={"wait": "true"}).json()

                def deliveries(run_id: str) -> list[dict[str, Any]]:
                    found: list[dict[str, Any]] = client.get(f"/api/runs/{run_id}").json()["deliveries"]
                    return found

                delivered = wait_until(lambda: [d for d in deliveries(first["run_id"]) if d["delivered_at"]])
                given_up = wait_until(
                    lambda: [
                        d
                        for d in deliveries(second["run_id"])
                        if d["attempts"] == 3 and d["next_attempt_at"] is None
                    ]
                )
    finally:
        flaky.close()
        dead.close()

    assert (delivered[0]["attempts"], delivered[0]["last_status"]) == (3, "200")
    assert len(flaky.received) == 3 and len({body for _, body in flaky.received}) == 1
    assert (given_up[0]["last_status"], given_up[0]["delivered_at"]) == ("500", None)
    assert len(dead.received) == 3


def test_a_run_started_outside_the_service_is_reported_and_unlisted_states_are_not(
    database_url: str, receiver: Receiver
) -> None:
    with SampleApi(Inventory(size=30)) as api:
        document = notified(api, database_url, receiver, on=["succeeded"])
        document["pipelines"]["quiet"] = pipeline_config(api.url) | {
            "notify": {"webhook": receiver.url + "/quiet", "on": ["failed"]}
        }
        document["pipelines"]["quiet"]["destination"]["table"] = "quiet"
        with RunningService(document):
            elsewhere = batchsync.run("items", document)  # as the CLI in another terminal would
            silent = batchsync.run("quiet", document)
            wait_until(lambda: receiver.received)
            threading.Event().wait(2.5)  # time for a wrong delivery of the quiet run to show up

    assert elsewhere.status.value == silent.status.value == "succeeded"
    [(headers, body)] = receiver.received
    assert (
        orjson.loads(body)["run_id"] == elsewhere.run_id and headers["x-batchsync-event"] == "run.succeeded"
    )

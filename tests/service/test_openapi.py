"""Schemathesis against the running service's own `/openapi.json`: for every route, requests generated
from the schema (with the admin token) never get a 5xx, and every answer matches what the schema says
the route returns: status code, content type and body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fakeapi import Inventory, SampleApi
from servicesupport import ADMIN, RunningService
from syncsupport import pipeline_config, url_document

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = Path(tmp_path_factory.mktemp("openapi")) / "sync.db"
    with SampleApi(Inventory(size=40)) as api:
        document = url_document(f"sqlite:///{database}", {"items": pipeline_config(api.url)})
        with RunningService(document, max_runs=2) as service:
            yield service


def operations(served: RunningService) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_lists_every_route(served: RunningService) -> None:
    labels = {operation.label for operation in operations(served)}
    assert {
        "GET /health",
        "GET /metrics",
        "POST /api/pipelines/{name}/runs",
        "POST /api/runs/{run_id}/cancel",
    } <= labels
    assert len(labels) == 12


def test_no_route_answers_5xx_or_off_its_schema(served: RunningService) -> None:
    for operation in operations(served):
        examples = 25 if operation.method.upper() == "GET" else 8  # a POST may start a run: fewer

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, checks=CHECKS, timeout=60)

        call()

"""The dashboard on a real server: log in once with the token for a signed HttpOnly, SameSite=Strict
cookie; pages for the pipelines, one pipeline and one run; forms refused without the session's CSRF
token or from another site; a read session sees no buttons and may change nothing. Then a real browser
(Debian's chromium, driven by Playwright): log in, start a sync, watch its bar move, see it succeed,
open the run, and save a screenshot."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakeapi import Inventory, SampleApi
from lookupsupport import API_KEY
from servicesupport import ADMIN, READER, RunningService, wait_until
from syncsupport import assert_table_at_equals_source, pipeline_config, url_document

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def slow_pull(api: SampleApi, database_url: str) -> dict[str, Any]:
    api.settings.latency_seconds = 0.04  # 150 pages one at a time: a run of several seconds to watch
    pipeline = pipeline_config(api.url, "page_number_total_pages")  # a known total: a bar that fills
    pipeline["source"]["paginator"]["page_size"] = 20
    pipeline["source"]["params"] = {"api_key": API_KEY}
    pipeline["concurrency"] = 1
    return url_document(database_url, {"items": pipeline})


def logged_in(served: RunningService, token: str) -> httpx.Client:
    client = httpx.Client(base_url=served.url, timeout=60)
    answer = client.post("/login", data={"token": token, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has a form with the session's CSRF token"
    return found.group(1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RunningService, Inventory, str]]:
    inventory = Inventory(size=3_000)
    database_url = f"sqlite:///{tmp_path / 'sync.db'}"
    with SampleApi(inventory) as api, RunningService(slow_pull(api, database_url)) as service:
        yield service, inventory, database_url


def test_logging_in_sets_a_signed_strict_httponly_cookie_and_pages_need_it(
    served: tuple[RunningService, Inventory, str],
) -> None:
    service, _, _ = served
    anonymous = httpx.Client(base_url=service.url, timeout=30)
    assert anonymous.get("/").status_code == 303 and anonymous.get("/").headers["location"] == "/login?next=/"
    assert anonymous.post("/login", data={"token": "wrong-token-0123456789"}).status_code == 401
    answer = anonymous.post("/login", data={"token": ADMIN, "next": "/pipelines/items"})
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 303 and answer.headers["location"] == "/pipelines/items"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert ADMIN not in cookie

    client = logged_in(service, ADMIN)
    pages = [client.get(path) for path in ("/", "/pipelines/items")]
    assert all(page.status_code == 200 and "text/html" in page.headers["content-type"] for page in pages)
    assert "Run now" in pages[1].text and "Reset" in pages[1].text
    assert all(API_KEY not in page.text and ADMIN not in page.text for page in pages)
    assert client.get("/api/pipelines").status_code == 200, "the live progress reads the API with the cookie"

    tampered = httpx.Client(
        base_url=service.url, cookies={"batchsync_session": client.cookies["batchsync_session"] + "x"}
    )
    assert tampered.get("/").status_code == 303
    assert tampered.get("/api/pipelines").status_code == 401


def test_a_form_without_the_csrf_token_or_from_another_site_is_refused(
    served: tuple[RunningService, Inventory, str],
) -> None:
    service, inventory, database_url = served
    client = logged_in(service, ADMIN)
    token = csrf_of(client.get("/pipelines/items").text)

    assert client.post("/pipelines/items/run").status_code == 403
    assert client.post("/pipelines/items/run", data={"csrf": "guessed"}).status_code == 403
    cross_site = client.post(
        "/pipelines/items/run", data={"csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403 and "CSRF" in cross_site.text
    assert client.post("/api/pipelines/items/runs").status_code == 401, (
        "the API's POST routes never take the cookie"
    )
    assert client.get("/api/runs").json()["items"] == [], "nothing was started"

    started = client.post("/pipelines/items/run", data={"csrf": token}, headers={"Origin": service.url})
    assert started.status_code == 303 and started.headers["location"].startswith("/runs/")
    run_id = started.headers["location"].rsplit("/", 1)[1]
    wait_until(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded", timeout=60)
    assert "succeeded" in client.get(f"/runs/{run_id}").text
    assert_table_at_equals_source(database_url, inventory)


def test_a_read_session_sees_no_buttons_and_may_change_nothing(
    served: tuple[RunningService, Inventory, str],
) -> None:
    service, _, _ = served
    admin_page = logged_in(service, ADMIN).get("/pipelines/items").text
    reader = logged_in(service, READER)
    page = reader.get("/pipelines/items").text
    assert "Run now" not in page and 'name="csrf"' not in page
    refused = reader.post("/pipelines/items/reset", data={"csrf": csrf_of(admin_page)})
    assert refused.status_code == 403


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("BATCHSYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "BATCHSYNC_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)",
                pytrace=False,
            )
        pytest.skip("skipped: no chromium (apt-get install chromium; scripts/test installs it in CI)")
    return found


def test_in_a_browser_log_in_start_a_sync_watch_the_bar_move_and_open_the_run(
    served: tuple[RunningService, Inventory, str],
) -> None:
    from playwright.sync_api import sync_playwright

    service, inventory, database_url = served
    ARTIFACTS.mkdir(exist_ok=True)
    arguments = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=arguments)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{service.url}/")
            assert page.url.startswith(f"{service.url}/login")
            page.fill("input[name=token]", ADMIN)
            page.click("button[type=submit]")
            page.click("text=items")
            page.click("text=Run now")
            page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]+$"))
            run_url = page.url
            page.goto(f"{service.url}/pipelines/items")
            bar = page.locator(".progress .bar").first
            bar.wait_for(timeout=20_000)
            # Striped and full while the run starts, then the share of the known total, growing.
            first = wait_until(
                lambda: 0 < (width := _width(bar.get_attribute("style"))) < 100 and width, timeout=30
            )
            wait_until(lambda: first < _width(bar.get_attribute("style")) < 100, timeout=30, interval=0.2)
            page.screenshot(path=str(ARTIFACTS / "dashboard-running.png"), full_page=True)
            page.wait_for_selector("h1 .badge-complete", timeout=60_000)  # the page reloads when the run ends
            page.goto(run_url)
            assert page.locator("h1 .badge-succeeded").is_visible()
            assert page.locator('dd[data-field="created"]').inner_text() == "3,000"
            page.screenshot(path=str(ARTIFACTS / "dashboard-run.png"), full_page=True)
        finally:
            browser.close()
    assert_table_at_equals_source(database_url, inventory)


def _width(style: str | None) -> float:
    found = re.search(r"width:\s*([\d.]+)%", style or "")
    return float(found.group(1)) if found else 0.0

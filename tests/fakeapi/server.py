"""The fake API on a real socket: the product's threaded server (`batchsync.sampleapi.server`) with what
tests need on top: injected hangs, truncated bodies and dropped connections, a stop that closes every open
connection (as a server going down would), a restart on the same port, and the settings and log.

`SampleApi` is what the test suite starts (a new product server at each start); `serve` runs one in the
foreground. What to answer is `dispatch.Dispatcher`'s job.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Self

from batchsync.sampleapi import server
from fakeapi.accounts import Accounts
from fakeapi.dataset import Inventory
from fakeapi.dispatch import Dispatcher
from fakeapi.drift import DriftEvent, InventoryDrift
from fakeapi.keys import KeyService
from fakeapi.limits import QUOTA_FAULT, RATE_LIMITED_FAULT, Gate
from fakeapi.messages import ApiRequest
from fakeapi.requestlog import LoggedRequest, RequestLog
from fakeapi.settings import SampleApiSettings
from fakeapi.tokens import TokenIssuer

__all__ = ["SampleApi", "serve"]


class _Handler(server.RequestHandler):
    """The product's handler, writing a `Response` late, cut short or not at all when a fault says so."""

    server: _Server

    def send(self, response: server.Response) -> None:
        delay = getattr(response, "delay_seconds", 0.0)
        delivery = getattr(response, "delivery", "complete")
        if delay > 0 and self.server.stopping.wait(delay):
            self.close_connection = True  # the server is going down; don't keep stop() waiting on a hang
            return
        if delivery == "dropped":
            self.close_connection = True  # hang up without a status line
            return
        if delivery != "truncated" or self.command == "HEAD":
            super().send(response)
            return
        # The Content-Length promises the whole body; half of it and a closed connection is what a proxy
        # dying mid-transfer looks like to the client.
        self.send_head(response)
        self.wfile.write(response.body[: len(response.body) // 2])
        self.close_connection = True


class _Server(server.SampleApi):
    """The product's server, answering through the fake API's dispatcher and remembering open connections,
    so `stop()` can close keep-alive clients."""

    handler = _Handler

    def __init__(self, api: SampleApi, host: str, port: int) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.stopping = threading.Event()  # set by shutdown(): handlers waiting out an injected hang give up
        self.dispatcher: Dispatcher | None = None  # set before serving, once the port (so the URL) is known
        super().__init__(api.inventory, host=host, port=port, accounts=api.accounts)

    def answer(self, request: ApiRequest) -> server.Response:
        assert self.dispatcher is not None
        return self.dispatcher.handle(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()

    def server_close(self) -> None:
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class SampleApi:
    """The fake API, served from a background thread on 127.0.0.1.

    Use as a context manager (`with SampleApi() as api: httpx.get(f"{api.url}/health")`) or call
    `start()`/`stop()`. The inventory, `keys`, `accounts` and `settings` may be changed while it serves. A
    stopped API can be started again and comes back on the same port, with its log and issued tokens intact,
    so tests can simulate an outage.
    """

    def __init__(
        self,
        inventory: Inventory | None = None,
        settings: SampleApiSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        keys: KeyService | None = None,
        accounts: Accounts | None = None,
    ) -> None:
        self.inventory = inventory if inventory is not None else Inventory()
        self.keys = keys if keys is not None else KeyService()
        self.accounts = accounts if accounts is not None else Accounts()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._settings = settings if settings is not None else SampleApiSettings()
        self._log = RequestLog()
        self._tokens = TokenIssuer(clock)
        self._gate = Gate(clock, wall_clock)
        self._drift = InventoryDrift(self.inventory)
        self._dispatcher: Dispatcher | None = None

    def start(self) -> Self:
        """Bind and serve; raises RuntimeError when running already, OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("sample API is already running")
        running = _Server(self, self._host, self._port)
        self._port = running.server_address[1]
        running.dispatcher = self._dispatcher_for(running.url)
        self._server = running.__enter__()
        return self

    def stop(self) -> None:
        """Stop serving, closing every open connection; idempotent."""
        running, self._server = self._server, None
        if running is not None:
            running.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("sample API has not been started, so it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. "http://127.0.0.1:54321"."""
        return f"http://{self._host}:{self.port}"

    @property
    def settings(self) -> SampleApiSettings:
        """The live settings; change their fields (the object itself is fixed, handlers hold it)."""
        return self._settings

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first: every request, including failures and token requests."""
        return self._log.entries()

    def clear_log(self) -> None:
        """Forget every logged request, and with them the fault counts below (drift events stay)."""
        self._log.clear()

    @property
    def faults_injected(self) -> Counter[str]:
        """A copy of how many logged requests got each fault, by kind: the fault plan's ("server_error",
        "rate_limited", "hang", "truncated", "invalid_json", "dropped") and the API's own refusals
        ("rate_limited_enforced", "quota_exceeded", "lookup_failed"). Always equal to the faults in
        `requests`."""
        return self._log.fault_counts()

    @property
    def rate_limited_count(self) -> int:
        """How many collection requests `settings.rate_limit_per_second` refused with a 429."""
        return self._log.fault_counts()[RATE_LIMITED_FAULT]

    @property
    def quota_refused_count(self) -> int:
        """How many collection requests `settings.quota` refused with a 429 because the window was used up."""
        return self._log.fault_counts()[QUOTA_FAULT]

    @property
    def drift_events(self) -> list[DriftEvent]:
        """Every change `settings.drift` made, oldest first: ("delete" | "insert", item ids)."""
        return self._drift.events()

    @property
    def token_requests(self) -> int:
        """How many OAuth2 access tokens `POST /oauth/token` has issued."""
        return self._tokens.issued_count

    def _dispatcher_for(self, url: str) -> Dispatcher:
        # Kept across restarts (the port is reused), so open Salesforce query locators survive an outage.
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                self.inventory,
                self._settings,
                self._log,
                self._tokens,
                url,
                gate=self._gate,
                drift=self._drift,
                keys=self.keys,
                accounts=self.accounts,
            )
        return self._dispatcher


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    size: int = 1000,
    seed: int = 0,
    settings: SampleApiSettings | None = None,
    on_ready: Callable[[SampleApi], None] | None = None,
) -> None:
    """Serve a `size`-item inventory in the foreground until interrupted (Ctrl-C returns normally).

    `on_ready` is called once the socket is listening, so a command can print `api.url`.
    """
    with SampleApi(Inventory(size, seed), settings, host=host, port=port) as api:
        if on_ready is not None:
            on_ready(api)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()

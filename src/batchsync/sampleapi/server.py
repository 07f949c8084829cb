"""The sample API on a real socket: a threaded HTTP/1.1 server on 127.0.0.1 in a background thread.

`SampleApi` is what `batchsync demo` and the test suite start; `serve` runs one in the foreground for the
`batchsync sample-api` command. This module only moves bytes: what to answer is `dispatch.Dispatcher`'s job.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from batchsync.sampleapi.accounts import Accounts
from batchsync.sampleapi.dataset import Inventory
from batchsync.sampleapi.dispatch import Dispatcher
from batchsync.sampleapi.drift import DriftEvent, InventoryDrift
from batchsync.sampleapi.keys import KeyService
from batchsync.sampleapi.limits import QUOTA_FAULT, RATE_LIMITED_FAULT, Gate
from batchsync.sampleapi.messages import ApiRequest, Response
from batchsync.sampleapi.requestlog import LoggedRequest, RequestLog
from batchsync.sampleapi.settings import SampleApiSettings
from batchsync.sampleapi.tokens import TokenIssuer

# How often serve_forever checks for shutdown; it bounds how long stop() waits, and tests stop servers often.
_POLL_INTERVAL_SECONDS = 0.01


class _Handler(BaseHTTPRequestHandler):
    """Turns one HTTP request into an `ApiRequest`, and the dispatcher's `Response` back into bytes."""

    protocol_version = "HTTP/1.1"  # keep-alive: a sync reuses one connection for every page
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't let the body wait
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # bodies are never chunked here; don't parse one, just hang up after
        request = ApiRequest(
            method=self.command,
            path=path,
            query=dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
        )
        self._write(self.server.dispatcher.handle(request))

    def _write(self, response: Response) -> None:
        if response.delay_seconds > 0 and self.server.stopping.wait(response.delay_seconds):
            self.close_connection = True  # the server is going down; don't keep stop() waiting on a hang
            return
        if response.delivery == "dropped":
            self.close_connection = True  # hang up without a status line
            return
        self.send_response_only(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.delivery == "truncated":
            # The Content-Length above promised the whole body; half of it and a closed connection is what a
            # proxy dying mid-transfer looks like to the client.
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is the record, and stderr noise would bury test output."""


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so `stop()` can close keep-alive clients."""

    daemon_threads = True
    block_on_close = False  # stop() closes connections itself instead of waiting for idle clients
    request_queue_size = 128  # fan-out tests open many connections at once; don't drop SYNs

    def __init__(self, address: tuple[str, int], make_dispatcher: Callable[[str], Dispatcher]) -> None:
        super().__init__(address, _Handler)
        self.url = f"http://{address[0]}:{self.server_address[1]}"
        # The dispatcher needs the URL for absolute Link headers, known only once the port is bound.
        self.dispatcher = make_dispatcher(self.url)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.stopping = threading.Event()  # set by stop(): handlers waiting out an injected hang give up

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # resets and broken pipes are the client's choice
            super().handle_error(request, client_address)


class SampleApi:
    """The sample inventory API, served from a background thread on 127.0.0.1.

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
        self._inventory = inventory if inventory is not None else Inventory()
        self._keys = keys if keys is not None else KeyService()
        self._accounts = accounts if accounts is not None else Accounts()
        self._settings = settings if settings is not None else SampleApiSettings()
        self._host = host
        self._port = port
        self._log = RequestLog()
        self._tokens = TokenIssuer(clock)
        self._gate = Gate(clock, wall_clock)
        self._drift = InventoryDrift(self._inventory)
        self._dispatcher: Dispatcher | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SampleApi:
        """Bind and start serving; returns self. Raises RuntimeError when already running, OSError when
        the port is taken."""
        if self._server is not None:
            raise RuntimeError("sample API is already running")
        server = _Server((self._host, self._port), self._dispatcher_for)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_SECONDS},
            name=f"sampleapi-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection, as a server going down would; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()

    def __enter__(self) -> SampleApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def inventory(self) -> Inventory:
        """The collection being served; mutate it freely while the API runs."""
        return self._inventory

    @property
    def keys(self) -> KeyService:
        """The key-check service's keys and answers (`/api/keycheck`); change them with `keys.update`."""
        return self._keys

    @property
    def accounts(self) -> Accounts:
        """Each account's transactions and token (`/accounts/{id}/transactions`), and the `/accounts` list."""
        return self._accounts

    @property
    def settings(self) -> SampleApiSettings:
        """The live settings; change their fields (the object itself is fixed, handlers hold it)."""
        return self._settings

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port; raises RuntimeError before the first `start()`."""
        if self._port == 0:
            raise RuntimeError("sample API has not been started, so it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. "http://127.0.0.1:54321"."""
        return f"http://{self._host}:{self.port}"

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
                self._inventory,
                self._settings,
                self._log,
                self._tokens,
                url,
                gate=self._gate,
                drift=self._drift,
                keys=self._keys,
                accounts=self._accounts,
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
    api = SampleApi(Inventory(size, seed), settings, host=host, port=port)
    with api:
        if on_ready is not None:
            on_ready(api)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass

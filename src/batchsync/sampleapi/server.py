"""The sample API on a real socket: a threaded HTTP/1.1 server on 127.0.0.1 in a background thread. It only
moves bytes; what to answer is the dispatcher's job (`dispatch.py`)."""

from __future__ import annotations

import contextlib
import sys
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self

from batchsync.sampleapi.accounts import Accounts
from batchsync.sampleapi.dispatch import Dispatcher
from batchsync.sampleapi.inventory import Inventory
from batchsync.sampleapi.keys import KeyService
from batchsync.sampleapi.messages import ApiRequest, Response
from batchsync.sampleapi.pages import Views


class Answers(Protocol):
    def handle(self, request: ApiRequest) -> Response: ...


class RequestHandler(BaseHTTPRequestHandler):
    """Turns one HTTP request into an `ApiRequest`, and the dispatcher's `Response` back into bytes."""

    protocol_version = "HTTP/1.1"  # keep-alive: a sync reuses one connection for every page
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't let the body wait
    server: ApiHttpServer

    def do_GET(self) -> None:
        path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # bodies are never chunked here; don't parse one, hang up after
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self.rfile.read(length) if length > 0 else b""
        self.send(self.server.answers.handle(ApiRequest(self.command, path, query, headers, body)))

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def send(self, response: Response) -> None:
        self.send_head(response)
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_head(self, response: Response) -> None:
        self.send_response_only(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: stderr noise would bury the terminal and test output."""


class ApiHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # fan-outs open many connections at once; don't drop SYNs
    handler: type[RequestHandler] = RequestHandler

    def __init__(self, address: tuple[str, int], answers: Callable[[str], Answers]) -> None:
        super().__init__(address, self.handler)
        self.answers = answers(f"http://{address[0]}:{self.server_address[1]}")  # once the port is bound

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # resets and broken pipes are the client's choice
            super().handle_error(request, client_address)


class SampleApi:
    """The sample API in a background thread: `with SampleApi() as api: httpx.get(f"{api.url}/health")`,
    or `start()` and `stop()`; started again, it comes back on the same port."""

    server_class: type[ApiHttpServer] = ApiHttpServer

    def __init__(
        self,
        inventory: Views | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keys: KeyService | None = None,
        accounts: Accounts | None = None,
    ) -> None:
        self.inventory = inventory if inventory is not None else Inventory()
        self.keys = keys if keys is not None else KeyService()
        self.accounts = accounts if accounts is not None else Accounts()
        self._host, self._port = host, port
        self._running = contextlib.ExitStack()
        self._server: ApiHttpServer | None = None

    def answers_for(self, url: str) -> Answers:
        """What answers requests, asked at every start, once the port (so `url`) is known."""
        return Dispatcher(self.inventory, self.keys, self.accounts)

    def start(self) -> Self:
        """Bind and serve; raises RuntimeError when running already, OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("sample API is already running")
        self._server = server = self.server_class((self._host, self._port), self.answers_for)
        self._port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)  # polls for stop()
        thread.start()
        self._running.callback(thread.join)
        self._running.callback(server.server_close)
        self._running.callback(server.shutdown)
        return self

    def stop(self) -> None:
        """Stop serving; idempotent."""
        self._server = None
        self._running.close()

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


def serve(port: int = 8765, size: int = 1000, seed: int = 0, host: str = "127.0.0.1") -> None:
    """Serve a `size`-item inventory in the foreground until interrupted (Ctrl-C returns normally)."""
    with SampleApi(Inventory(size, seed), host=host, port=port), contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()

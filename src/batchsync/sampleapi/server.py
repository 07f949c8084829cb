"""The sample API on a real socket: a threaded HTTP/1.1 server on 127.0.0.1 that only moves bytes; what to
answer is `dispatch.py`'s job."""

from __future__ import annotations

import contextlib
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from batchsync.sampleapi.accounts import Accounts
from batchsync.sampleapi.dispatch import dispatch
from batchsync.sampleapi.inventory import Inventory, Items
from batchsync.sampleapi.messages import ApiRequest, Response


class RequestHandler(BaseHTTPRequestHandler):
    """Turns one HTTP request into an `ApiRequest`, and the server's `Response` to it back into bytes."""

    protocol_version = "HTTP/1.1"  # keep-alive: a sync reuses one connection for every page
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't let the body wait
    server: SampleApi

    def do_GET(self) -> None:
        path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # bodies are never chunked here; don't parse one, hang up after
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self.rfile.read(length) if length > 0 else b""
        self.send(self.server.answer(ApiRequest(self.command, path, query, headers, body)))

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


class SampleApi(ThreadingHTTPServer):
    """The sample API, bound on creation and served from a background thread inside `with`:

    with SampleApi(Inventory(size=1003)) as api:
        httpx.get(f"{api.url}/inventory/v1/items", params={"per_page": 200})
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # fan-outs open many connections at once; don't drop SYNs
    handler: type[RequestHandler] = RequestHandler

    def __init__(
        self,
        inventory: Items | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: Accounts | None = None,
    ) -> None:
        self.inventory = inventory if inventory is not None else Inventory()
        self.accounts = accounts if accounts is not None else Accounts()
        super().__init__((host, port), self.handler)
        self.url = f"http://{host}:{self.server_address[1]}"

    def answer(self, request: ApiRequest) -> Response:
        """What the server answers, from its handler threads."""
        return dispatch(request, self.inventory, self.accounts)

    def __enter__(self) -> Self:
        threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True).start()  # polls for shutdown()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # resets and broken pipes are the client's choice
            super().handle_error(request, client_address)


def serve(port: int = 8765, size: int = 1000, seed: int = 0, host: str = "127.0.0.1") -> None:
    """Serve a `size`-item inventory in the foreground until interrupted (Ctrl-C returns normally)."""
    with SampleApi(Inventory(size, seed), host=host, port=port), contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()

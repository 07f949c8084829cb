"""The last guard on what leaves the service: every response body passes through the config's redactor
before it is sent, whatever route, page or error handler made it.

The engine already masks secrets in what it records; this catches what it cannot know about, such as
an error message a database driver builds around a connection URL, or a cursor holding an API key that
a next-URL paginator stored in a checkpoint. Bodies are small (JSON and HTML pages), so holding one whole
to mask it costs nothing worth measuring; `Content-Length` is set to the masked length.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batchsync.redaction import Redactor


class RedactBodies:
    def __init__(self, app: ASGIApp, redactor: Redactor) -> None:
        self.app = app
        self.redactor = redactor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.redactor:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def masked_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = self.redactor.redact(b"".join(chunks).decode("utf-8", "replace")).encode()
            headers = [(name, value) for name, value in start["headers"] if name.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, masked_send)

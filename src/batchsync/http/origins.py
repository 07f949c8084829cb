"""Which hosts a pipeline's requests, and so its credentials, may go to.

An API's answers name the next page (`next_url`, `Link: rel="next"`), and a hostile or compromised API
could name any host: a bearer token, Basic credentials or a query-string API key would follow. So a
request goes only to the origin of `base_url` (scheme, host, port; a host name is compared as written,
so `localhost` is not `127.0.0.1`) or to a host the pipeline lists in `allowed_hosts`, and only over http
or https. Redirects are followed, but a redirect to any other origin loses every credential first.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from batchsync.errors import PaginationError

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in, host names lower-cased."""
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)


class OriginPolicy:
    """Decides whether a URL may receive the pipeline's requests (and the credentials they carry)."""

    def __init__(self, base_url: str, allowed_hosts: Iterable[str] = ()) -> None:
        self._base = httpx.URL(base_url)
        self._origin = origin_of(self._base)
        self._allowed = tuple(host.lower() for host in allowed_hosts)
        self._last_trusted: str | None = None

    def is_trusted(self, url: httpx.URL) -> bool:
        """True for the base URL's own origin and for the allowed hosts (over http or https)."""
        if url.scheme.lower() not in _DEFAULT_PORTS:
            return False
        if origin_of(url) == self._origin:
            return True
        host = url.host.lower()
        port = url.port or _DEFAULT_PORTS[url.scheme.lower()]
        return any(_matches(host, port, allowed) for allowed in self._allowed)

    def check(self, target: str) -> None:
        """Raise PaginationError unless `target` (a path under base_url, or an absolute URL the API
        named) may receive the pipeline's requests."""
        if target == self._last_trusted:  # every page of an offset or page-number pull asks the same
            return
        try:
            url = self._base.join(target)
        except (httpx.InvalidURL, ValueError) as exc:
            raise PaginationError(
                f"the API named a next page that is not a valid URL: {target!r} ({exc})"
            ) from exc
        if url.scheme.lower() not in _DEFAULT_PORTS:
            raise PaginationError(
                f"the API named a next page that is not an http or https URL: {_without_query(url)}"
            )
        if not self.is_trusted(url):
            scheme, host, port = self._origin
            raise PaginationError(
                f"the API named a next page on another host, {_without_query(url)}; credentials go only "
                f"to {scheme}://{host}:{port}, the origin of base_url. If that host belongs to the API, "
                f"list it under source.allowed_hosts (e.g. allowed_hosts: [{url.host}])"
            )
        self._last_trusted = target


def _matches(host: str, port: int, allowed: str) -> bool:
    """`allowed` is `host`, `host:port` or `*.domain` (any subdomain of domain)."""
    name, _, wanted_port = allowed.partition(":")
    if wanted_port and wanted_port != str(port):
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def _without_query(url: httpx.URL) -> str:
    """The URL without its query string, which may carry someone's key."""
    return str(url.copy_with(query=None, fragment=None))

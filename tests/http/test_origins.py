"""The origin check on every request: the answer it remembers for a target it has just trusted never
stands in for another target's."""

from __future__ import annotations

import pytest

from batchsync.errors import PaginationError
from batchsync.http.origins import OriginPolicy


def test_a_target_trusted_before_does_not_make_another_host_trusted() -> None:
    policy = OriginPolicy("https://api.example.com/v1")
    for _ in range(3):  # the same path, page after page
        policy.check("/v1/items")

    with pytest.raises(PaginationError, match="another host"):
        policy.check("https://evil.example.net/v1/items")
    with pytest.raises(PaginationError, match="not an http or https URL"):
        policy.check("ftp://api.example.com/v1/items")
    policy.check("/v1/items")  # and the path is still trusted after a refusal
    with pytest.raises(PaginationError, match="another host"):
        policy.check("//evil.example.net/v1/items")

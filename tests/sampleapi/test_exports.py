"""Guards the public names of `batchsync.sampleapi`, so a rename is a deliberate API change."""

from __future__ import annotations

import batchsync.sampleapi


def test_public_names() -> None:
    assert sorted(batchsync.sampleapi.__all__) == [
        "ApiKeyAuth", "AuthRequirement", "BasicAuth", "BearerAuth", "Inventory", "LoggedRequest",
        "OAuth2Auth", "SampleApi", "SampleApiSettings", "serve",
    ]  # fmt: skip
    assert all(hasattr(batchsync.sampleapi, name) for name in batchsync.sampleapi.__all__)
    assert batchsync.sampleapi.__doc__

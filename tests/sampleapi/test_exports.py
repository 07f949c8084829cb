"""Guards the public names of `batchsync.sampleapi`, so a rename is a deliberate API change."""

from __future__ import annotations

import batchsync.sampleapi


def test_public_names() -> None:
    assert sorted(batchsync.sampleapi.__all__) == [
        "Accounts", "AlwaysFail", "ApiKeyAuth", "AuthRequirement", "BasicAuth", "BearerAuth", "Drift",
        "FailNth", "FailWhere", "FaultOptions", "FaultRates", "Inventory", "KeyService", "LoggedRequest",
        "OAuth2Auth", "Quota", "RandomFaults", "SampleApi", "SampleApiSettings", "choose_poison", "serve",
    ]  # fmt: skip
    assert all(hasattr(batchsync.sampleapi, name) for name in batchsync.sampleapi.__all__)
    assert batchsync.sampleapi.__doc__

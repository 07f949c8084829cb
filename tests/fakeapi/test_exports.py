"""Guards the public names of `batchsync.sampleapi`, so a rename is a deliberate API change."""

from __future__ import annotations

import fakeapi


def test_public_names() -> None:
    assert sorted(fakeapi.__all__) == [
        "Accounts", "AlwaysFail", "ApiKeyAuth", "AuthRequirement", "BasicAuth", "BearerAuth", "Drift",
        "FailNth", "FailWhere", "FaultOptions", "FaultRates", "Inventory", "KeyService", "LoggedRequest",
        "OAuth2Auth", "Quota", "RandomFaults", "SampleApi", "SampleApiSettings", "choose_poison", "serve",
    ]  # fmt: skip
    assert all(hasattr(fakeapi, name) for name in fakeapi.__all__)
    assert fakeapi.__doc__

"""The projector's handlers against the live API, with the projector's own key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_contracts.api_client import ApiClient
from mlops_projector.api import api_client
from mlops_testkit.api import Clients


@pytest.fixture
def api(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    monkeypatch.setenv("API_URL", clients.base_url)
    monkeypatch.setenv("API_KEY", clients.keys["projector"])
    api_client.cache_clear()
    client = ApiClient.from_env()
    yield client
    client.close()
    api_client.cache_clear()

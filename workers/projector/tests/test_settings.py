"""A bad or missing setting stops the projector with a message naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_projector import handler as projector_handler
from mlops_projector.api import api_client
from mlops_projector.settings import ProjectorSettings


@pytest.fixture(autouse=True)
def no_cached_client() -> None:
    api_client.cache_clear()


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_URL", "API_KEY", "API_KEY_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)


def test_a_bad_api_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "not a url")
    monkeypatch.setenv("API_KEY", "k")
    with pytest.raises(ValidationError, match="API_URL"):
        ProjectorSettings()


def test_a_missing_key_fails_the_invocation_before_any_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    with pytest.raises(ValidationError, match="API_KEY"):
        projector_handler.handler({"Records": []}, None)


def test_a_missing_api_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    with pytest.raises(ValidationError, match="API_URL"):
        ProjectorSettings()
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    assert ProjectorSettings().api_key is not None

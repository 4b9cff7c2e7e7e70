"""Approval links carry their token in the path; the access log writes every path. In AWS the live
tokens would land in CloudWatch, where anyone reading the logs could decide a release."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from mlops_testkit.api import ApiServer, AwsFixture, start_api


@pytest.fixture(scope="module")
def logged_api(
    migrated_database_url: str, aws: AwsFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    server = start_api(migrated_database_url, str(tmp_path_factory.mktemp("logged-api")), access_log=True)
    yield server
    server.stop()


def test_no_log_line_holds_an_approval_links_token(logged_api: ApiServer) -> None:
    token = "v1." + secrets.token_urlsafe(48)
    with httpx.Client(base_url=logged_api.base_url, timeout=30) as browser:
        opened = browser.get(f"/runs/7/approval-links/{token}")
        confirmed = browser.post(f"/runs/7/approval-links/{token}?x=1", data={"name": "Ada"})
    # nobody signed in (this API accepts no signed identities): refused, and still written to the access log
    assert opened.status_code == 401
    assert confirmed.status_code == 401

    log = logged_api.log()
    assert token not in log
    assert token[:20] not in log
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    paths = [e["message"] for e in access if e.get("logger") == "uvicorn.access"]
    assert any(
        f'"GET /runs/7/approval-links/[redacted] HTTP/1.1" {opened.status_code}' in p for p in paths
    ), paths
    redacted_post = f'"POST /runs/7/approval-links/[redacted]?x=1 HTTP/1.1" {confirmed.status_code}'
    assert any(redacted_post in p for p in paths), paths

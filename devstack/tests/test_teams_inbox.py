"""The local Teams channel of `make dev`: the formatter's real `notify` path (webhook URL read from
the emulator's Secrets Manager, card built and posted) lands in the inbox file and one terminal line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops_approval import teams
from mlops_approval.messages import Notification
from mlops_approval.settings import TeamsSettings
from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator, free_port
from mlops_devstack.local_secrets import put_secret_value
from mlops_devstack.teams_inbox import TeamsInbox


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[tuple[TeamsInbox, list[str]]]:
    said: list[str] = []
    box = TeamsInbox(tmp_path / "teams-inbox.jsonl", say=said.append).start()
    yield box, said
    box.stop()


def test_an_approval_card_reaches_the_inbox_with_its_links(
    inbox: tuple[TeamsInbox, list[str]], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, said = inbox
    secrets = aws_client("secretsmanager")
    name = f"test/teams-webhook-{free_port()}"
    secrets.create_secret(Name=name, Description="declared by Terraform in the real stack")
    put_secret_value(secrets, box.url, secret_id=name)
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ID", name)
    teams._secrets.cache_clear()

    note = Notification.model_validate(
        {
            "kind": "approval_requested",
            "run_id": 7,
            "model_name": "tiny-platform-qa",
            "ml_score": 0.81,
            "ml_score_threshold": 0.7,
            "approve_url": "http://127.0.0.1:8000/runs/7/approval-links/a",
            "reject_url": "http://127.0.0.1:8000/runs/7/approval-links/r",
        }
    )
    assert teams.notify(note, TeamsSettings()) == 200

    stored = [json.loads(line) for line in box.path.read_text().splitlines()]
    assert len(stored) == 1
    assert box.path.stat().st_mode & 0o777 == 0o600  # live approval links: the owner's only
    assert stored[0]["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert len(said) == 1
    line = said[0]
    assert line.startswith("Teams: Approval requested: tiny-platform-qa")
    assert "Approve: http://127.0.0.1:8000/runs/7/approval-links/a" in line
    assert "Reject: http://127.0.0.1:8000/runs/7/approval-links/r" in line


def test_what_is_not_a_teams_message_is_refused_and_not_kept(inbox: tuple[TeamsInbox, list[str]]) -> None:
    box, said = inbox
    assert httpx.post(box.url, content=b"not json").status_code == 400
    assert httpx.post(box.url, json={"text": "no attachments"}).status_code == 400
    assert box.path.read_text() == ""  # created private at start, nothing kept
    assert said == []

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mlops_contracts.aws import aws_client, reset_clients
from mlops_contracts.events import EVENT_BUS_NAME, STATUS_OF_EVENT, EventType, RunEventDetail, RunPayload
from mlops_contracts.settings import PlatformSettings
from mlops_contracts.status import TRANSITIONS, RunStatus, TaskType
from mlops_devstack.emulator import Emulator


def test_envelope_is_the_seeds() -> None:
    detail = RunEventDetail(
        run_id=42,
        timestamp=datetime(2026, 2, 22, 14, 30, tzinfo=UTC),
        payload=RunPayload(
            model_name="mistral-7b-rag-qa",
            model_id="mistralai/Mistral-7B-v0.1",
            task_type=TaskType.FINETUNE,
            experiment_name="rag-qa-finetune",
        ),
    )
    assert json.loads(detail.to_detail_json()) == {
        "run_id": 42,
        "timestamp": "2026-02-22T14:30:00Z",
        "payload": {
            "model_name": "mistral-7b-rag-qa",
            "model_id": "mistralai/Mistral-7B-v0.1",
            "task_type": "finetune",
            "experiment_name": "rag-qa-finetune",
        },
        "data": {},
    }


def test_payload_rejects_unknown_task_type_and_fields() -> None:
    with pytest.raises(ValidationError, match="task_type"):
        RunPayload(model_name="m", model_id="a/b", task_type="pretrain", experiment_name="e")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        RunPayload.model_validate(
            {"model_name": "m", "model_id": "a/b", "task_type": "finetune", "experiment_name": "e", "x": 1}
        )


def test_every_status_event_implies_a_reachable_status() -> None:
    targets = {t for nxt in TRANSITIONS.values() for t in nxt}
    for event, status in STATUS_OF_EVENT.items():
        assert status in targets, event
    assert EventType.RUN_CREATED not in STATUS_OF_EVENT
    assert RunStatus.PENDING not in STATUS_OF_EVENT.values()


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("EVENT_BUS_NAME", "other-bus")
    settings = PlatformSettings()
    assert settings.aws_region == "eu-central-1"
    assert settings.event_bus_name == "other-bus"
    monkeypatch.delenv("EVENT_BUS_NAME")
    assert PlatformSettings().event_bus_name == EVENT_BUS_NAME


def test_client_factory_honours_endpoint_and_region(emulator: Emulator) -> None:
    reset_clients()
    events = aws_client("events")
    assert events.meta.endpoint_url == emulator.endpoint
    assert events.meta.region_name == emulator.region
    assert events.meta.config.retries["total_max_attempts"] == 5
    # the client really talks to the emulator
    events.create_event_bus(Name="factory-probe")
    names = {b["Name"] for b in events.list_event_buses()["EventBuses"]}
    assert "factory-probe" in names
    assert aws_client("events") is events  # cached: one client per service and options
    assert aws_client("events", max_attempts=1) is not events

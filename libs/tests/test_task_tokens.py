"""The task-token protocol against botocore's Stubber: the requests are checked against the
Step Functions service model, and the errors are the ones its operations declare."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from mlops_contracts.task_tokens import (
    DEAD_TOKEN_CODES,
    MAX_CAUSE_CHARS,
    MAX_ERROR_CHARS,
    HeartbeatThread,
    TaskToken,
    TokenDead,
)

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAe"  # the shape of a real token; any non-empty string would do


@pytest.fixture
def sfn() -> Any:
    return boto3.client(
        "stepfunctions", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture
def stub(sfn: Any) -> Any:
    with Stubber(sfn) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_the_limits_and_dead_token_codes_are_the_service_models(sfn: Any) -> None:
    model = sfn.meta.service_model
    failure = model.operation_model("SendTaskFailure").input_shape.members
    assert (failure["error"].metadata["max"], failure["cause"].metadata["max"]) == (
        MAX_ERROR_CHARS,
        MAX_CAUSE_CHARS,
    )
    for operation in ("SendTaskHeartbeat", "SendTaskSuccess", "SendTaskFailure"):
        declared = {shape.name for shape in model.operation_model(operation).error_shapes}
        assert DEAD_TOKEN_CODES.issubset(declared), operation


def test_heartbeat_success_and_failure_send_exactly_these_parameters(sfn: Any, stub: Any) -> None:
    token = TaskToken(TOKEN, client=sfn)
    stub.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    stub.add_response(
        "send_task_success",
        {},
        {"taskToken": TOKEN, "output": json.dumps({"approved": True, "approver": "a"})},
    )
    stub.add_response(
        "send_task_failure", {}, {"taskToken": TOKEN, "error": "Training.Failed", "cause": "OOM"}
    )
    token.heartbeat()
    token.succeed({"approved": True, "approver": "a"})
    token.fail("Training.Failed", "OOM")


def test_failure_is_cut_to_the_models_limits(sfn: Any, stub: Any) -> None:
    token = TaskToken(TOKEN, client=sfn)
    at_limit = {"error": "e" * MAX_ERROR_CHARS, "cause": "c" * MAX_CAUSE_CHARS}
    stub.add_response("send_task_failure", {}, {"taskToken": TOKEN, **at_limit})
    stub.add_response("send_task_failure", {}, {"taskToken": TOKEN, **at_limit})
    token.fail("e" * (MAX_ERROR_CHARS + 1), "c" * (MAX_CAUSE_CHARS * 2))
    token.fail("e" * MAX_ERROR_CHARS, "c" * MAX_CAUSE_CHARS)  # at the limit: unchanged


ANSWERS: list[tuple[str, Callable[[TaskToken], None]]] = [
    ("send_task_heartbeat", TaskToken.heartbeat),
    ("send_task_success", lambda token: token.succeed({})),
    ("send_task_failure", lambda token: token.fail("E", "c")),
]


@pytest.mark.parametrize("code", sorted(DEAD_TOKEN_CODES - {"InvalidToken"}))
@pytest.mark.parametrize(("operation", "call"), ANSWERS)
def test_a_dead_token_raises_token_dead_at_once(
    sfn: Any, stub: Any, code: str, operation: str, call: Callable[[TaskToken], None]
) -> None:
    sleeps = Sleeps()
    stub.add_client_error(operation, code, "Task Timed Out", http_status_code=400)
    with pytest.raises(TokenDead) as dead:
        call(TaskToken(TOKEN, client=sfn, sleep=sleeps))
    assert dead.value.code == code
    assert str(dead.value) == f"the workflow no longer waits on this task token ({code})"
    assert sleeps == []


def test_an_answers_invalid_token_is_dead_at_once(sfn: Any, stub: Any) -> None:
    sleeps = Sleeps()
    token = TaskToken(TOKEN, client=sfn, sleep=sleeps)
    stub.add_client_error("send_task_success", "InvalidToken", "Invalid token", http_status_code=400)
    stub.add_client_error("send_task_failure", "InvalidToken", "Invalid token", http_status_code=400)
    with pytest.raises(TokenDead, match="InvalidToken"):
        token.succeed({"ok": True})
    with pytest.raises(TokenDead, match="InvalidToken"):
        token.fail("E", "c")
    assert sleeps == []


def test_a_heartbeats_invalid_token_gets_the_emulators_grace_period(sfn: Any, stub: Any) -> None:
    sleeps = Sleeps()
    token = TaskToken(TOKEN, client=sfn, sleep=sleeps)
    # the emulator's window between sending the message and setting up the heartbeat
    for _ in range(2):
        stub.add_client_error("send_task_heartbeat", "InvalidToken", http_status_code=400)
    stub.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    token.heartbeat()
    assert sleeps == pytest.approx([0.1, 0.2])

    # a token that stays invalid is dead after about a second
    sleeps.clear()
    for _ in range(5):
        stub.add_client_error("send_task_heartbeat", "InvalidToken", http_status_code=400)
    with pytest.raises(TokenDead, match="InvalidToken"):
        token.heartbeat()
    assert sleeps == pytest.approx([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailable", "KmsThrottlingException"])
def test_any_other_error_is_raised_unchanged(sfn: Any, stub: Any, code: str) -> None:
    """Retrying those is the client's retry policy's job; this module adds no retry of its own."""
    token = TaskToken(TOKEN, client=sfn, sleep=Sleeps())
    stub.add_client_error("send_task_heartbeat", code, http_status_code=503)
    stub.add_client_error("send_task_failure", code, http_status_code=503)
    with pytest.raises(ClientError) as raised:
        token.heartbeat()
    assert raised.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError):
        token.fail("E", "c")


def test_the_token_stays_out_of_logs() -> None:
    assert TOKEN not in repr(TaskToken(TOKEN))


def test_the_heartbeat_thread_survives_a_lost_beat_and_stops_at_a_dead_token() -> None:
    outcomes: list[BaseException | None] = [
        ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendTaskHeartbeat"),
        None,
        TokenDead("TaskTimedOut"),
    ]
    calls = 0

    def beat() -> None:
        nonlocal calls
        calls += 1
        outcome = outcomes[calls - 1] if calls <= len(outcomes) else None
        if outcome is not None:
            raise outcome

    with HeartbeatThread(beat, interval=0.01) as thread:
        assert thread.dead.wait(5)
        time.sleep(0.1)  # room for beats that should not come
    assert calls == 3


def test_the_heartbeat_thread_beats_until_its_block_ends() -> None:
    calls: list[float] = []
    with HeartbeatThread(lambda: calls.append(time.monotonic()), interval=0.01) as thread:
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    ended = time.monotonic()
    time.sleep(0.1)
    assert len(calls) >= 2
    assert all(at < ended for at in calls)
    assert not thread.dead.is_set()

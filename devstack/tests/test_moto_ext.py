"""The moto extension (mlops_devstack.moto_ext), through the emulator's HTTP API as the platform uses it."""

from __future__ import annotations

import json
import re
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

import moto
import pytest
from botocore.exceptions import ClientError

from mlops_contracts.aws import aws_client
from mlops_contracts.task_tokens import DEAD_TOKEN_CODES
from mlops_devstack import moto_ext
from mlops_devstack.emulator import Emulator
from mlops_testkit.servers import WaitingTask

ROLE = "arn:aws:iam::123456789012:role/test"
PASS_DEFINITION = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the pin --------------------------------------------------------------------------------------


def test_installed_moto_is_the_version_the_extension_was_written_for() -> None:
    assert moto.__version__ == moto_ext.SUPPORTED_MOTO_VERSION, (
        f"moto {moto.__version__} is installed but mlops_devstack.moto_ext patches moto "
        f"{moto_ext.SUPPORTED_MOTO_VERSION}'s internals: re-check every fix against the new version "
        "(and drop those moto now has), then update SUPPORTED_MOTO_VERSION and the pin"
    )


def test_devstack_pins_the_supported_moto() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    deps = [*pyproject["project"]["dependencies"]]
    for extra in pyproject["project"].get("optional-dependencies", {}).values():
        deps.extend(extra)
    pins = [d for d in deps if re.match(r"moto(\[.*\])?\s*==", d)]
    assert pins == [f"moto[server]=={moto_ext.SUPPORTED_MOTO_VERSION}"]


def test_install_refuses_another_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(moto_ext.UnsupportedMotoVersion, match=r"moto 5\.3\.0 is installed"):
        moto_ext.check_moto_version()


# -- Step Functions -------------------------------------------------------------------------------


def test_validate_state_machine_definition_accepts_valid_asl(emulator: Emulator) -> None:
    answer = aws_client("stepfunctions").validate_state_machine_definition(definition=PASS_DEFINITION)
    assert answer["result"] == "OK"
    assert answer["diagnostics"] == []


@pytest.mark.parametrize(
    ("definition", "code"),
    [
        ("{not json", "INVALID_JSON_DESCRIPTION"),
        (json.dumps({"States": {"P": {"Type": "Pass", "End": True}}}), "SCHEMA_VALIDATION_FAILED"),
        (json.dumps({"StartAt": "P", "States": {"P": {"Type": "Teleport"}}}), "SCHEMA_VALIDATION_FAILED"),
    ],
)
def test_validate_state_machine_definition_rejects_invalid_asl(
    emulator: Emulator, definition: str, code: str
) -> None:
    answer = aws_client("stepfunctions").validate_state_machine_definition(definition=definition)
    assert answer["result"] == "FAIL"
    assert [d["code"] for d in answer["diagnostics"]] == [code]
    assert answer["diagnostics"][0]["severity"] == "ERROR"
    assert answer["diagnostics"][0]["message"]


def test_list_state_machine_versions(emulator: Emulator) -> None:
    sfn = aws_client("stepfunctions")
    unpublished = sfn.create_state_machine(name=_name("plain"), definition=PASS_DEFINITION, roleArn=ROLE)
    assert (
        sfn.list_state_machine_versions(stateMachineArn=unpublished["stateMachineArn"])[
            "stateMachineVersions"
        ]
        == []
    )

    published = sfn.create_state_machine(
        name=_name("versioned"), definition=PASS_DEFINITION, roleArn=ROLE, publish=True
    )
    arn = published["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=PASS_DEFINITION, publish=True)
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:2", f"{arn}:1"]

    first_page = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1)
    assert [v["stateMachineVersionArn"] for v in first_page["stateMachineVersions"]] == [f"{arn}:2"]
    second_page = sfn.list_state_machine_versions(
        stateMachineArn=arn, maxResults=1, nextToken=first_page["nextToken"]
    )
    assert [v["stateMachineVersionArn"] for v in second_page["stateMachineVersions"]] == [f"{arn}:1"]
    assert "nextToken" not in second_page


# -- EventBridge targets --------------------------------------------------------------------------


def test_execution_name_is_deterministic_valid_and_bounded() -> None:
    event = {"id": "6b24bb05-2d85-42ba-8a05-003ce9c38593", "detail": {"run_id": 42}}
    assert moto_ext.execution_name(event) == "run-42-6b24bb05-2d85-42ba-8a05-003ce9c38593"
    assert moto_ext.execution_name(event) == moto_ext.execution_name(dict(event))
    assert moto_ext.execution_name({"id": "abc", "detail": {}}) == "abc"
    odd = moto_ext.execution_name({"id": "a b/c" + "x" * 100, "detail": {"run_id": "r:1"}})
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", odd)


class Bus:
    """A bus of its own with one rule, for one test."""

    def __init__(self, pattern: dict[str, Any]) -> None:
        self.events = aws_client("events")
        self.name = _name("bus")
        self.events.create_event_bus(Name=self.name)
        self.rule = _name("rule")
        self.events.put_rule(Name=self.rule, EventBusName=self.name, EventPattern=json.dumps(pattern))

    def targets(self, *targets: dict[str, Any]) -> None:
        self.events.put_targets(Rule=self.rule, EventBusName=self.name, Targets=list(targets))

    def put(self, detail_type: str, detail: dict[str, Any], source: str = "test.source") -> str:
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.name,
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0, answer
        return str(answer["Entries"][0]["EventId"])


def _queue() -> tuple[str, str]:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=_name("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _receive_all(url: str) -> list[dict[str, Any]]:
    sqs = aws_client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def _wait_finished(execution_arn: str, timeout: float = 10.0) -> dict[str, Any]:
    sfn = aws_client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise TimeoutError(execution_arn)


def test_rule_starts_a_named_execution_with_the_event_as_input(emulator: Emulator) -> None:
    sfn = aws_client("stepfunctions")
    machine = sfn.create_state_machine(name=_name("release"), definition=PASS_DEFINITION, roleArn=ROLE)[
        "stateMachineArn"
    ]
    bus = Bus({"detail-type": ["run.created"]})
    bus.targets({"Id": "release", "Arn": machine, "RoleArn": ROLE})

    event_id = bus.put("run.created", {"run_id": 42, "payload": {"task_type": "finetune"}})
    bus.put("run.cancelled", {"run_id": 42})  # does not match the rule

    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [e["name"] for e in executions] == [f"run-42-{event_id}"]
    described = _wait_finished(executions[0]["executionArn"])
    assert described["status"] == "SUCCEEDED"
    event = json.loads(described["input"])
    assert event["id"] == event_id
    assert event["detail-type"] == "run.created"
    assert event["source"] == "test.source"
    assert event["detail"] == {"run_id": 42, "payload": {"task_type": "finetune"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert json.loads(described["output"]) == event  # the Pass state hands its input on


def test_rule_publishes_the_event_to_a_topic(emulator: Emulator) -> None:
    sns = aws_client("sns")
    topic = sns.create_topic(Name=_name("topic"))["TopicArn"]
    url, arn = _queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    bus = Bus({"detail-type": ["run.eval_passed"]})
    bus.targets({"Id": "notify", "Arn": topic})

    event_id = bus.put("run.eval_passed", {"run_id": 7, "data": {"ml_score": 0.81}})
    bus.put("run.eval_started", {"run_id": 7})

    bodies = [json.loads(m["Body"]) for m in _receive_all(url)]
    assert [(b["id"], b["detail-type"], b["detail"]) for b in bodies] == [
        (event_id, "run.eval_passed", {"run_id": 7, "data": {"ml_score": 0.81}})
    ]


def test_input_transformer_shapes_what_the_topic_gets(emulator: Emulator) -> None:
    sns = aws_client("sns")
    topic = sns.create_topic(Name=_name("topic"))["TopicArn"]
    url, arn = _queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    bus = Bus({"detail-type": ["run.rejected"]})
    bus.targets(
        {
            "Id": "notify",
            "Arn": topic,
            "InputTransformer": {
                "InputPathsMap": {"run": "$.detail.run_id"},
                "InputTemplate": '{"text": "run <run> was rejected"}',
            },
        }
    )
    bus.put("run.rejected", {"run_id": 9})
    assert [json.loads(m["Body"]) for m in _receive_all(url)] == [{"text": "run 9 was rejected"}]


def test_a_rule_with_moto_and_extension_targets_delivers_to_all(emulator: Emulator) -> None:
    sfn = aws_client("stepfunctions")
    machine = sfn.create_state_machine(name=_name("m"), definition=PASS_DEFINITION, roleArn=ROLE)[
        "stateMachineArn"
    ]
    url, arn = _queue()
    bus = Bus({"source": ["mlops.workflow"]})
    bus.targets({"Id": "queue", "Arn": arn}, {"Id": "machine", "Arn": machine, "RoleArn": ROLE})

    event_id = bus.put("run.approved", {"run_id": 3}, source="mlops.workflow")

    assert [json.loads(m["Body"])["id"] for m in _receive_all(url)] == [event_id]
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == [
        f"run-3-{event_id}"
    ]


def test_undeliverable_event_goes_to_the_target_dlq_and_put_events_succeeds(emulator: Emulator) -> None:
    dlq_url, dlq_arn = _queue()
    missing = "arn:aws:states:eu-west-1:123456789012:stateMachine:does-not-exist"
    bus = Bus({"detail-type": ["run.created"]})
    bus.targets({"Id": "gone", "Arn": missing, "RoleArn": ROLE, "DeadLetterConfig": {"Arn": dlq_arn}})

    event_id = bus.put("run.created", {"run_id": 5})  # asserts FailedEntryCount == 0

    [message] = _receive_all(dlq_url)
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == missing
    assert attributes["RULE_ARN"].endswith(f"rule/{bus.name}/{bus.rule}")
    assert attributes["ERROR_CODE"]


# -- SageMaker UpdateModelPackage ----------------------------------------------------------------


def test_update_model_package_merges_metadata_and_keeps_what_it_does_not_name(emulator: Emulator) -> None:
    sagemaker = aws_client("sagemaker")
    group = _name("model")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"run_id": "7", "validation": "pending"},
    )["ModelPackageArn"]
    assert arn.endswith(f"model-package/{group}/1")

    sagemaker.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ApprovalDescription="approved by alice",
        CustomerMetadataProperties={"validation": "validated", "deployment_status": "go_prod"},
    )
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataPropertiesToRemove=["run_id"])

    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["CustomerMetadataProperties"] == {
        "validation": "validated",
        "deployment_status": "go_prod",
    }
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == (
        "Approved",
        "approved by alice",
    )


# -- SQS ------------------------------------------------------------------------------------------


def test_redrive_policy_reads_back_as_aws_writes_it(emulator: Emulator) -> None:
    sqs = aws_client("sqs")
    _, dlq_arn = _queue()
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}, separators=(",", ":"))
    url = sqs.create_queue(QueueName=_name("q"), Attributes={"RedrivePolicy": policy})["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["RedrivePolicy"] == policy
    assert attributes["VisibilityTimeout"] == "30"  # the other attributes are still moto's


def test_a_token_answered_while_its_message_is_sent_resumes_the_task(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's SendTaskSuccess lands between the task's SendMessage and the start of its
    heartbeat wait (made certain here: the queue answers the token as it takes the message).
    moto kept the outcome but slept until the heartbeat timed out, then failed the task."""
    from moto.sqs.models import SQSBackend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    moto_send_message = SQSBackend.send_message

    def send_and_answer_at_once(self: SQSBackend, queue_name: str, message_body: str, **kwargs: Any) -> Any:
        message = moto_send_message(self, queue_name, message_body, **kwargs)
        token = json.loads(message_body)["task_token"]
        sfn_backend = stepfunctions_parser_backends[self.account_id][self.region_name]
        sfn_backend.send_task_success(token, json.dumps({"answered": "early"}))
        return message

    monkeypatch.setattr(SQSBackend, "send_message", send_and_answer_at_once)
    task = WaitingTask(emulator, "early", heartbeat_seconds=2)

    described = task.result()
    assert described["status"] == "SUCCEEDED", described.get("error")
    assert json.loads(described["output"]) == {"answered": "early"}


# -- strict mode ----------------------------------------------------------------------------------


def _refused(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Error"]["Message"])


def _package_group(sagemaker: Any) -> str:
    group = _name("model")
    sagemaker.create_model_package_group(
        ModelPackageGroupName=group,
        Tags=[{"Key": "project", "Value": "mlops"}],  # groups take tags
    )
    return group


def test_strict_mode_refuses_tags_on_a_package_created_in_a_group(emulator: Emulator) -> None:
    """The release workflow's CreateCandidatePackage as it was before #18, replayed."""
    sagemaker = aws_client("sagemaker", max_attempts=1)
    group = _package_group(sagemaker)
    message = _refused(
        sagemaker.create_model_package,
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"run_id": "1"},
        Tags=[{"Key": "run_id", "Value": "1"}, {"Key": "validation", "Value": "pending"}],
    )
    assert "'Tags'" in message
    assert "ModelPackageGroupName" in message
    assert sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []


def test_strict_mode_refuses_tagging_a_package_version(emulator: Emulator) -> None:
    """The workflow's old TagGoProd / TagRejected steps, replayed: versions take no tags."""
    sagemaker = aws_client("sagemaker", max_attempts=1)
    group = _package_group(sagemaker)
    version = sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval"
    )["ModelPackageArn"]
    message = _refused(
        sagemaker.add_tags,
        ResourceArn=version,
        Tags=[{"Key": "deployment_status", "Value": "go_prod"}, {"Key": "validation", "Value": "validated"}],
    )
    assert "'ResourceArn'" in message
    assert "CustomerMetadataProperties" in message
    _refused(sagemaker.delete_tags, ResourceArn=version, TagKeys=["validation"])
    group_arn = sagemaker.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    sagemaker.add_tags(ResourceArn=group_arn, Tags=[{"Key": "team", "Value": "ml"}])  # a group: accepted


def test_strict_mode_refuses_a_malformed_training_job_naming_the_members(emulator: Emulator) -> None:
    """What botocore's client does not check (patterns, enums, maximums) the service does."""
    sagemaker = aws_client("sagemaker", max_attempts=1)
    message = _refused(
        sagemaker.create_training_job,
        TrainingJobName="rag-qa_run_1!",  # underscores and "!" are outside the name's pattern
        AlgorithmSpecification={"TrainingInputMode": "File", "TrainingImage": "trainer:latest"},
        RoleArn="arn:aws:iam::123456789012:role/training",
        OutputDataConfig={"S3OutputPath": "s3://artifacts/out"},
        ResourceConfig={"InstanceType": "ml.g5.huge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        HyperParameters={"epochs": "1", "x" * 257: "1"},  # a key above the 256 characters allowed
    )
    assert message.startswith("3 validation errors detected")
    assert "'TrainingJobName' failed to satisfy constraint: Member must satisfy regular expression" in message
    assert "'ResourceConfig.InstanceType' failed to satisfy constraint: Member must satisfy enum" in message
    assert "'HyperParameters (key: xxx" in message
    with pytest.raises(ClientError):  # and nothing was created
        sagemaker.describe_training_job(TrainingJobName="rag-qa_run_1!")


def test_strict_mode_refuses_what_exceeds_the_approval_description(emulator: Emulator) -> None:
    sagemaker = aws_client("sagemaker", max_attempts=1)
    group = _package_group(sagemaker)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval"
    )["ModelPackageArn"]
    message = _refused(
        sagemaker.update_model_package,
        ModelPackageArn=arn,
        ModelApprovalStatus="Rejected",
        ApprovalDescription="rejected by alice: " + "x" * 1024,
    )
    assert "'ApprovalDescription'" in message
    assert "less than or equal to 1024" in message
    assert (
        sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"]
        == "PendingManualApproval"
    )


def test_strict_mode_covers_the_state_machines_aws_sdk_requests(emulator: Emulator) -> None:
    """moto's ASL interpreter sends an aws-sdk task's request back to the server (its client's own
    validation off): strict mode refuses it there, and the task fails with the service's error."""
    sagemaker = aws_client("sagemaker", max_attempts=1)
    group = _package_group(sagemaker)
    definition = {
        "StartAt": "CreateCandidatePackage",
        "States": {
            "CreateCandidatePackage": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
                "Parameters": {
                    "ModelPackageGroupName": group,
                    "ModelApprovalStatus": "PendingManualApproval",
                    "Tags": [{"Key": "validation", "Value": "pending"}],
                },
                "End": True,
            }
        },
    }
    sfn = aws_client("stepfunctions", max_attempts=1)
    machine = sfn.create_state_machine(name=_name("strict"), definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.2)
    assert described["status"] == "FAILED"
    history = sfn.get_execution_history(executionArn=execution)["events"]
    [failed] = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert "Value at 'Tags' failed to satisfy constraint" in failed["cause"]
    assert "Status Code: 400" in failed["cause"]
    assert sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []


def test_strict_mode_is_on_in_make_dev_and_make_test() -> None:
    """`make dev` (mlops_devstack.stack) and the tests (the testkit's emulator fixture) start the same
    Emulator, whose start installs the extension with strict mode; there is no switch to turn it off.
    The tests above run on that fixture: its emulator refuses what AWS refuses."""
    from moto.core.responses import BaseResponse

    from mlops_devstack import emulator, stack
    from mlops_testkit import servers

    assert vars(stack)["Emulator"] is emulator.Emulator
    assert vars(servers)["Emulator"] is emulator.Emulator
    moto_ext.install()
    assert BaseResponse.call_action.__module__ == moto_ext.__name__


@pytest.mark.parametrize("heartbeat_seconds", [None, 30])
def test_stop_execution_aborts_the_execution_and_kills_its_token(
    emulator: Emulator, heartbeat_seconds: int | None
) -> None:
    """moto only flagged its interpreter: the execution stayed RUNNING, went on waiting for its
    token and took the answer. On AWS it is ABORTED at once and its token is dead."""
    task = WaitingTask(emulator, "stopped", heartbeat_seconds=heartbeat_seconds)
    sfn = aws_client("stepfunctions")

    stopped = sfn.stop_execution(executionArn=task.execution_arn, error="Cancelled", cause="by a test")

    described = sfn.describe_execution(executionArn=task.execution_arn)
    assert described["status"] == "ABORTED"
    assert described["stopDate"] == stopped["stopDate"]
    with pytest.raises(ClientError) as refused:
        sfn.send_task_success(taskToken=task.token, output="{}")
    assert refused.value.response["Error"]["Code"] in DEAD_TOKEN_CODES
    deadline = time.monotonic() + 5
    while (events := _history_types(task.execution_arn))[-1] != "ExecutionAborted":
        assert time.monotonic() < deadline, events
        time.sleep(0.1)
    assert events[-2] == "TaskSubmitted"  # the wait ended by the stop, not by a timeout or an answer
    again = sfn.describe_execution(executionArn=task.execution_arn)
    assert (again["status"], again["stopDate"]) == ("ABORTED", stopped["stopDate"])


def _history_types(execution_arn: str) -> list[str]:
    history = aws_client("stepfunctions").get_execution_history(executionArn=execution_arn)
    return [event["type"] for event in history["events"]]


def _training_job(name: str) -> None:
    aws_client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/train:1",
            "TrainingInputMode": "File",
        },
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://outputs/jobs/"},
        ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )


def test_stop_training_job_stops_a_job_in_progress_and_refuses_others(emulator: Emulator) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = aws_client("sagemaker")
    running, ended = _name("running"), _name("ended")
    _training_job(running)
    _training_job(ended)  # moto's jobs complete at once
    backend = sagemaker_backends["123456789012"][sagemaker.meta.region_name]
    backend.training_jobs[running].training_job_status = "InProgress"

    sagemaker.stop_training_job(TrainingJobName=running)

    assert sagemaker.describe_training_job(TrainingJobName=running)["TrainingJobStatus"] == "Stopped"
    for name, message in ((ended, "in status Completed"), (_name("unknown"), "Could not find")):
        with pytest.raises(ClientError) as refused:
            sagemaker.stop_training_job(TrainingJobName=name)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert message in refused.value.response["Error"]["Message"]


def test_strict_mode_checks_s3_too(emulator: Emulator) -> None:
    """S3 is served by moto's own dispatch; strict mode checks it there and answers as S3 does."""
    s3 = aws_client("s3", max_attempts=1)
    bucket = _name("strict")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key="runs/1/result.json", Body=b"{}", Metadata={"sha256": "0" * 64})
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="runs/1/other.json", Body=b"{}", StorageClass="FAST")
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgument", 400)
    assert "Value at 'StorageClass' failed to satisfy constraint" in error["Error"]["Message"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["runs/1/result.json"]


# -- task-token answers ---------------------------------------------------------------------------


def _answer(kind: str, token: str) -> None:
    sfn = aws_client("stepfunctions", max_attempts=1)
    if kind == "success":
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": False}))
    elif kind == "failure":
        sfn.send_task_failure(taskToken=token, error="Rejected", cause="by a test")
    else:
        sfn.send_task_heartbeat(taskToken=token)


def _answer_refused(kind: str, token: str) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        _answer(kind, token)
    return dict(refused.value.response)


def _closed_by(how: str, emulator: Emulator) -> WaitingTask:
    sfn = aws_client("stepfunctions")
    if how == "timed out":
        task = WaitingTask(emulator, "timed-out", heartbeat_seconds=1)
        assert task.result()["status"] == "FAILED"
    elif how == "answered":
        task = WaitingTask(emulator, "answered")
        sfn.send_task_success(taskToken=task.token, output="{}")
        assert task.result()["status"] == "SUCCEEDED"
    else:
        task = WaitingTask(emulator, "stopped")
        sfn.stop_execution(executionArn=task.execution_arn)
    return task


@pytest.mark.parametrize("kind", ["success", "failure", "heartbeat"])
@pytest.mark.parametrize("how", ["timed out", "answered", "stopped"])
def test_an_answer_on_a_closed_task_is_task_timed_out_not_a_500(
    emulator: Emulator, kind: str, how: str
) -> None:
    """moto raised its TaskTimedOut without the message it requires: SendTaskFailure on the token of
    a stopped execution answered HTTP 500 (the API turns a 5xx into a 503, as a reject did under
    the fuzzer), and an answer on a task already answered or timed out was taken. AWS answers 400
    TaskTimedOut: 'the task associated with the token has already been closed'."""
    task = _closed_by(how, emulator)

    error = _answer_refused(kind, task.token)

    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "TaskTimedOut"
    assert error["Error"]["Code"] in DEAD_TOKEN_CODES  # what the platform's workers stop on


@pytest.mark.parametrize("kind", ["success", "failure", "heartbeat"])
def test_an_answer_on_a_token_never_issued_is_invalid_token(emulator: Emulator, kind: str) -> None:
    error = _answer_refused(kind, "A" * 200)
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "InvalidToken")


def test_an_output_that_is_not_json_is_invalid_output_and_the_task_stays_open(
    waiting_task: WaitingTask,
) -> None:
    """moto took it, and the task then failed with States.Runtime; AWS refuses it."""
    sfn = aws_client("stepfunctions", max_attempts=1)
    with pytest.raises(ClientError) as refused:
        sfn.send_task_success(taskToken=waiting_task.token, output="not json")
    assert refused.value.response["Error"]["Code"] == "InvalidOutput"
    sfn.send_task_success(taskToken=waiting_task.token, output='{"ok": true}')
    assert waiting_task.result()["status"] == "SUCCEEDED"


def test_a_heartbeat_on_an_open_task_without_heartbeat_seconds_is_taken(waiting_task: WaitingTask) -> None:
    _answer("heartbeat", waiting_task.token)
    assert aws_client("stepfunctions").describe_execution(executionArn=waiting_task.execution_arn)[
        "status"
    ] == ("RUNNING")


def test_a_failures_cause_reaches_the_execution(waiting_task: WaitingTask) -> None:
    """moto's SendTaskFailure dropped the cause; the workflow's Catch reads it (the AWS message of
    a failed CreateTrainingJob travels there)."""
    _answer("failure", waiting_task.token)
    described = waiting_task.result()
    assert (described["status"], described.get("error"), described.get("cause")) == (
        "FAILED",
        "Rejected",
        "by a test",
    )


def test_two_concurrent_answers_one_is_taken_the_other_is_task_timed_out(waiting_task: WaitingTask) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def answer(_: int) -> str:
        try:
            _answer("success", waiting_task.token)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "taken"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(answer, range(4)))

    assert outcomes == ["TaskTimedOut"] * 3 + ["taken"]


# -- execution status change events ---------------------------------------------------------------


def test_an_ended_execution_puts_its_status_change_on_the_default_bus(emulator: Emulator) -> None:
    """As AWS does; the rule that stops the training job of a failed or stopped run listens for it."""
    sqs, events = aws_client("sqs"), aws_client("events")
    queue = sqs.create_queue(QueueName=_name("status"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    stopped, answered = WaitingTask(emulator, "status-stopped"), WaitingTask(emulator, "status-answered")
    rule = _name("status")
    pattern = {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"executionArn": [stopped.execution_arn, answered.execution_arn]},
    }
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))  # the default bus
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])

    aws_client("stepfunctions").stop_execution(
        executionArn=stopped.execution_arn, error="E", cause="by a test"
    )
    aws_client("stepfunctions").send_task_success(taskToken=answered.token, output="{}")
    answered.result()

    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            assert event["resources"] == [event["detail"]["executionArn"]]
            seen[event["detail"]["executionArn"]] = event["detail"]
    assert seen[stopped.execution_arn]["status"] == "ABORTED"
    assert (seen[stopped.execution_arn]["error"], seen[stopped.execution_arn]["cause"]) == ("E", "by a test")
    assert seen[answered.execution_arn]["status"] == "SUCCEEDED"
    assert json.loads(seen[answered.execution_arn]["input"]) == {}
    time.sleep(1)  # once per execution, though the interpreter reports a stopped one's end twice
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []) == []


def test_search_applies_every_filter(emulator: Emulator) -> None:
    """moto answered at the first matching Tags. filter: a search for a run's jobs in progress found
    its ended ones too (the workflow would stop a job twice)."""
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = aws_client("sagemaker")
    run = _name("run")
    names = {status: _name(status.lower()) for status in ("InProgress", "Completed")}
    backend = sagemaker_backends["123456789012"][sagemaker.meta.region_name]
    for status, name in names.items():
        _training_job(name)
        sagemaker.add_tags(
            ResourceArn=sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobArn"],
            Tags=[{"Key": "run_id", "Value": run}],
        )
        backend.training_jobs[name].training_job_status = status

    found = sagemaker.search(
        Resource="TrainingJob",
        SearchExpression={
            "Filters": [
                {"Name": "Tags.run_id", "Operator": "Equals", "Value": run},
                {"Name": "TrainingJobStatus", "Operator": "Equals", "Value": "InProgress"},
            ]
        },
    )

    assert [r["TrainingJob"]["TrainingJobName"] for r in found["Results"]] == [names["InProgress"]]


def test_update_endpoint_moves_the_endpoint_to_another_config_and_refuses_unknowns(
    emulator: Emulator,
) -> None:
    """moto has no UpdateEndpoint (the deployer's blue/green update, #20): the extension's; its
    DeploymentConfig is checked by strict mode against botocore's model."""
    sagemaker = aws_client("sagemaker")
    endpoint = _name("endpoint")
    for config in (f"{endpoint}-a", f"{endpoint}-b"):
        sagemaker.create_model(
            ModelName=config,
            ExecutionRoleArn="arn:aws:iam::123456789012:role/mlops-sagemaker-role",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-serving:1"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": config,
                    "InstanceType": "ml.g5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-a")
    canary = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                "WaitIntervalInSeconds": 300,
            }
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "mlops-serving-errors"}]},
    }

    sagemaker.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=f"{endpoint}-b", DeploymentConfig=canary
    )

    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    assert (described["EndpointConfigName"], described["EndpointStatus"]) == (f"{endpoint}-b", "InService")
    for name, config, message in (
        (_name("unknown"), f"{endpoint}-a", "Could not find endpoint"),
        (endpoint, _name("unknown"), "Could not find endpoint configuration"),
    ):
        with pytest.raises(ClientError) as refused:
            sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert message in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as malformed:  # WaitIntervalInSeconds is at most 3600
        sagemaker.update_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=f"{endpoint}-a",
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 7200}
                }
            },
        )
    assert malformed.value.response["Error"]["Code"] == "ValidationException"
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == f"{endpoint}-b"

"""`terraform/envs/local` applied to the emulator (once per session): the resources exist as declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from mlops_devstack.terraform import read_env_file
from mlops_testkit.servers import ProvisionedStack

ROOT = Path(__file__).resolve().parents[2]
ROUTING = json.loads((ROOT / "terraform" / "routing.json").read_text())
WEEK = 7 * 24 * 3600
TWO_WEEKS = 14 * 24 * 3600

# key, queue name, visibility timeout (the seed's queue table for training and evaluation)
QUEUES = [
    ("TRAINING", "mlops-training-queue", 3600),
    ("EVALUATION", "mlops-eval-queue", 900),
    ("APPROVAL", "mlops-approval-queue", 300),
    ("RUN_EVENTS", "mlops-run-events-queue", 60),
    ("NOTIFICATIONS", "mlops-notifications-queue", 120),
]


def test_env_file_has_what_the_services_read(local_stack: ProvisionedStack) -> None:
    env = read_env_file(local_stack.env_file)
    assert env == local_stack.env
    mappings = json.loads((ROOT / "terraform" / "lambda_mappings.json").read_text())["mappings"]
    needed = {m["queue_url_env"] for m in mappings.values()} | {
        "EVENT_BUS_NAME",
        "DATASETS_BUCKET",
        "MODEL_OUTPUTS_BUCKET",
        "STATE_MACHINE_ARN",
        "NOTIFICATIONS_TOPIC_ARN",
        "MAX_TRAINING_RUNTIME_SECONDS",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
    }
    assert needed <= env.keys()
    assert env["EVENT_BUS_NAME"] == "mlops-events"
    assert env["AWS_ENDPOINT_URL"] == local_stack.endpoint
    for key, name, _ in QUEUES:
        assert env[f"{key}_QUEUE_URL"] == f"{local_stack.endpoint}/123456789012/{name}"


def test_bus_and_archive(local_stack: ProvisionedStack) -> None:
    events = local_stack.client("events")
    bus = events.describe_event_bus(Name="mlops-events")
    assert bus["Arn"] == local_stack.env["EVENT_BUS_ARN"]
    archive = events.describe_archive(ArchiveName="mlops-events-archive")
    assert archive["EventSourceArn"] == bus["Arn"]
    assert archive["RetentionDays"] == 90


@pytest.mark.parametrize(("key", "name", "visibility"), QUEUES)
def test_queue_and_its_dlq(local_stack: ProvisionedStack, key: str, name: str, visibility: int) -> None:
    sqs = local_stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=local_stack.env[f"{key}_QUEUE_URL"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["QueueArn"].endswith(f":{name}")
    assert int(attributes["VisibilityTimeout"]) == visibility
    assert int(attributes["MessageRetentionPeriod"]) == WEEK
    assert attributes["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3
    dlq = sqs.get_queue_attributes(QueueUrl=local_stack.env[f"{key}_DLQ_URL"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert (
        redrive["deadLetterTargetArn"]
        == dlq["QueueArn"]
        == name.replace("-queue", "-dlq").join([f"arn:aws:sqs:{local_stack.region}:123456789012:", ""])
    )
    assert int(dlq["MessageRetentionPeriod"]) == TWO_WEEKS
    assert dlq["SqsManagedSseEnabled"] == "true"


def test_queues_fed_by_rules_or_topics_let_only_those_send(local_stack: ProvisionedStack) -> None:
    sqs = local_stack.client("sqs")
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=local_stack.env["RUN_EVENTS_QUEUE_URL"], AttributeNames=["Policy"])[
            "Attributes"
        ]["Policy"]
    )
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    # exactly the rules of routing.json that target the queue: the workflow's facts and the
    # training job's progress
    feeding = [
        name
        for name, rule in ROUTING["rules"].items()
        if {"type": "queue", "name": "run_events"} in rule["targets"]
    ]
    assert sorted(feeding) == ["mlops-training-progress-projector", "mlops-workflow-facts-projector"]
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    sources = [sources] if isinstance(sources, str) else sources
    assert sorted(arn.rsplit("/", 1)[-1] for arn in sources) == sorted(feeding)
    assert all("rule/mlops-events/" in arn for arn in sources)
    training = sqs.get_queue_attributes(
        QueueUrl=local_stack.env["TRAINING_QUEUE_URL"], AttributeNames=["All"]
    )
    assert "Policy" not in training["Attributes"]  # only the state machine's role sends work


def test_rules_and_targets_follow_the_routing_file(local_stack: ProvisionedStack) -> None:
    events = local_stack.client("events")
    rules = {r["Name"]: r for r in events.list_rules(EventBusName="mlops-events")["Rules"]}
    assert set(ROUTING["rules"]) <= rules.keys()
    arns = {
        ("state_machine", "release"): local_stack.env["STATE_MACHINE_ARN"],
        ("queue", "run_events"): local_stack.env["RUN_EVENTS_QUEUE_ARN"],
        ("queue", "deployments"): local_stack.env["DEPLOYMENTS_QUEUE_ARN"],
        ("topic", "notifications"): local_stack.env["NOTIFICATIONS_TOPIC_ARN"],
    }
    for name, rule in ROUTING["rules"].items():
        assert json.loads(rules[name]["EventPattern"]) == rule["event_pattern"]
        targets = events.list_targets_by_rule(Rule=name, EventBusName="mlops-events")["Targets"]
        assert sorted(t["Arn"] for t in targets) == sorted(
            arns[(t["type"], t["name"])] for t in rule["targets"]
        )
        for target in targets:
            assert target["DeadLetterConfig"]["Arn"].endswith(":mlops-events-delivery-dlq")
            if ":states:" in target["Arn"]:
                role = target["RoleArn"].rsplit("/", 1)[-1]
                policy = local_stack.client("iam").get_role_policy(
                    RoleName=role, PolicyName="start-executions"
                )
                assert policy["PolicyDocument"]["Statement"][0]["Action"] == "states:StartExecution"


def test_topic_is_encrypted_and_feeds_the_notifications_queue(local_stack: ProvisionedStack) -> None:
    sns = local_stack.client("sns")
    topic = local_stack.env["NOTIFICATIONS_TOPIC_ARN"]
    assert topic.endswith(":mlops-notifications")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == local_stack.env["KMS_KEY_ARN"]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == local_stack.env["NOTIFICATIONS_QUEUE_ARN"]


@pytest.mark.parametrize("bucket_key", ["DATASETS_BUCKET", "MODEL_OUTPUTS_BUCKET"])
def test_buckets_are_private_versioned_and_encrypted(local_stack: ProvisionedStack, bucket_key: str) -> None:
    s3 = local_stack.client("s3")
    bucket = local_stack.env[bucket_key]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert len(block) == 4
    assert all(block.values())
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == local_stack.env["KMS_KEY_ARN"]
    s3.put_object(Bucket=bucket, Key="probe.txt", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="probe.txt")["Body"].read() == b"x"


def test_model_outputs_go_to_glacier(local_stack: ProvisionedStack) -> None:
    rules = local_stack.client("s3").get_bucket_lifecycle_configuration(
        Bucket=local_stack.env["MODEL_OUTPUTS_BUCKET"]
    )["Rules"]
    [rule] = [r for r in rules if r["ID"] == "archive-old-models"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]
    assert rule["NoncurrentVersionTransitions"][0]["NoncurrentDays"] == 30


def test_secrets_exist_without_values(local_stack: ProvisionedStack) -> None:
    secrets = local_stack.client("secretsmanager")
    for key in ["DATABASE", "TEAMS_WEBHOOK", "API_BOOTSTRAP_KEY", "APPROVAL_SIGNING_KEY"]:
        arn = local_stack.env[f"{key}_SECRET_ARN"]
        described = secrets.describe_secret(SecretId=arn)
        assert described["Name"] == f"mlops/{key.lower().replace('_', '-')}"
        assert described["KmsKeyId"] == local_stack.env["KMS_KEY_ARN"]
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            secrets.get_secret_value(SecretId=arn)


def test_state_machine_has_its_role_logs_and_tracing(local_stack: ProvisionedStack) -> None:
    described = local_stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=local_stack.env["STATE_MACHINE_ARN"]
    )
    assert described["name"] == "mlops-release-workflow"
    assert described["roleArn"].endswith(":role/mlops-release-workflow")
    definition = json.loads(described["definition"])
    # a Choice first: deployment.requested runs the Deploy stage alone (#20), run.created the release
    assert definition["StartAt"] == "Route"
    assert definition["States"]["Route"]["Default"] == "Init"
    # the deploy tasks' queue, rendered by templatefile
    assert (
        definition["States"]["Deploy"]["Parameters"]["QueueUrl"] == local_stack.env["DEPLOYMENTS_QUEUE_URL"]
    )
    put_events = definition["States"]["EmitTrainingStarted"]["Parameters"]["Entries"][0]
    assert put_events["EventBusName"] == "mlops-events"  # rendered by templatefile
    assert described["loggingConfiguration"]["level"] == "ALL"
    [destination] = described["loggingConfiguration"]["destinations"]
    log_group_arn = destination["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert "/aws/vendedlogs/states/mlops-release-workflow" in log_group_arn
    assert described["tracingConfiguration"] == {"enabled": True}
    groups = local_stack.client("logs").describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/")
    # the release workflow's and the stop-training-jobs machine's, each kept 30 days under the key
    assert sorted(g["logGroupName"].rsplit("/", 1)[-1] for g in groups["logGroups"]) == [
        "mlops-release-workflow",
        "mlops-stop-training-jobs",
    ]
    for group in groups["logGroups"]:
        assert group["retentionInDays"] == 30
        assert group["kmsKeyId"] == local_stack.env["KMS_KEY_ARN"]


def test_kms_key_rotates(local_stack: ProvisionedStack) -> None:
    kms = local_stack.client("kms")
    assert kms.get_key_rotation_status(KeyId=local_stack.env["KMS_KEY_ARN"])["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert local_stack.env["KMS_KEY_ARN"].endswith(str(aliases["alias/mlops"]))

"""The apply cache of `make dev` (mlops_devstack.apply_cache, mlops_devstack.recorder): the key, the
recording, the replay into a fresh emulator and the fallback to `terraform apply`.

The replay tests use a small Terraform configuration of the same shape as envs/local (variables
`emulator_endpoint` and `region`, output `service_env`) whose resources get random identifiers from
the emulator (KMS key id, secret ARN suffix): applying it takes seconds, where envs/local's apply
takes 75-80 s of the provider's fixed waits. The key is also checked on a copy of the real terraform/.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_devstack.apply_cache import (
    ApplyCache,
    CacheKey,
    Provisioned,
    cache_key,
    emulator_clients,
    provision,
    verify_stack,
)
from mlops_devstack.emulator import Emulator, EmulatorProcess, free_port
from mlops_devstack.paths import repo_root
from mlops_devstack.recorder import ReplayError, dump_entries
from mlops_devstack.terraform import LocalStack, TerraformError

pytestmark = pytest.mark.integration  # Terraform and emulator processes (the key holds `terraform version`)

SMALL_STACK = """
terraform {
  required_version = ">= 1.5"
  backend "local" {}
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.100" }
  }
}

variable "emulator_endpoint" { type = string }
variable "region" { type = string }

provider "aws" {
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    events         = var.emulator_endpoint
    kms            = var.emulator_endpoint
    secretsmanager = var.emulator_endpoint
    sns            = var.emulator_endpoint
    sts            = var.emulator_endpoint
  }
}

resource "aws_kms_key" "this" {
  description             = "apply cache test"
  deletion_window_in_days = 7
}

resource "aws_secretsmanager_secret" "this" {
  name                    = "cache-test/secret"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 0
}

resource "aws_sns_topic" "this" {
  name              = "cache-test-topic"
  kms_master_key_id = aws_kms_key.this.arn
}

resource "aws_cloudwatch_event_bus" "this" {
  name = "cache-test-bus"
}

resource "aws_cloudwatch_event_rule" "this" {
  name           = "cache-test-rule"
  event_bus_name = aws_cloudwatch_event_bus.this.name
  event_pattern  = jsonencode({ source = ["cache-test"] })
}

resource "aws_cloudwatch_event_target" "this" {
  rule           = aws_cloudwatch_event_rule.this.name
  event_bus_name = aws_cloudwatch_event_bus.this.name
  target_id      = "topic"
  arn            = aws_sns_topic.this.arn
}

output "service_env" {
  value = {
    KMS_KEY_ARN      = aws_kms_key.this.arn
    SECRET_ARN       = aws_secretsmanager_secret.this.arn
    TOPIC_ARN        = aws_sns_topic.this.arn
    EVENT_BUS_NAME   = aws_cloudwatch_event_bus.this.name
  }
}
"""


@dataclass
class Setup:
    """A terraform/ tree with the small stack, its state dir and cache, and a port for emulators."""

    root: Path
    stack: LocalStack
    cache: ApplyCache
    port: int
    region: str = "eu-west-1"
    messages: list[str] | None = None

    def key(self) -> CacheKey:
        return cache_key(self.stack, terraform_root=self.root, port=self.port, region=self.region)

    def provision(self, emulator: EmulatorProcess) -> Provisioned:
        self.messages = []
        return provision(
            self.stack,
            endpoint=emulator.endpoint,
            region=self.region,
            control=emulator.control(),
            cache=self.cache,
            key=self.key(),
            say=self.messages.append,
        )

    def said(self) -> str:
        return "\n".join(self.messages or [])


def _setup(tmp: Path) -> Setup:
    root = tmp / "terraform"
    config = root / "envs" / "local"
    config.mkdir(parents=True)
    (config / "main.tf").write_text(SMALL_STACK)
    state_dir = tmp / "state"
    stack = LocalStack(state_dir=state_dir, config_dir=config)
    return Setup(root, stack, ApplyCache(state_dir / "apply-cache"), free_port())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Setup, Provisioned]:
    """The small stack applied onto a fresh emulator, with its apply recorded into the cache."""
    setup = _setup(tmp_path_factory.mktemp("apply-cache"))
    emulator = EmulatorProcess(port=setup.port).start()
    try:
        first = setup.provision(emulator)
    finally:
        emulator.stop()
    return setup, first


@pytest.fixture
def fresh(recorded: tuple[Setup, Provisioned]) -> Iterator[EmulatorProcess]:
    """A new, empty emulator on the port of the recording (the port is part of the key)."""
    emulator = EmulatorProcess(port=recorded[0].port).start()
    yield emulator
    emulator.stop()


def _plan_exit_code(setup: Setup, emulator: EmulatorProcess) -> int:
    """`terraform plan -detailed-exitcode` WITH refresh: 0 when Terraform reads every resource of its
    state back from the emulator and finds nothing to change."""
    result = setup.stack._run(
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
        f"-var=emulator_endpoint={emulator.endpoint}",
        f"-var=region={setup.region}",
    )
    assert result.returncode != 1, result.stderr
    return result.returncode


# -- the key ------------------------------------------------------------------------------------


def test_the_key_changes_with_every_input_and_only_with_them(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    key = setup.key()
    assert setup.key() == key  # stable

    # What Terraform generates in the configuration is not an input.
    config = setup.stack.config_dir
    (config / ".terraform.lock.hcl").write_text("# lock")
    (config / ".terraform").mkdir()
    (config / ".terraform" / "x").write_text("x")
    (config / "old.tfstate").write_text("{}")
    assert setup.key() == key

    main = config / "main.tf"
    main.write_text(main.read_text().replace('"cache-test-topic"', '"cache-test-topic-2"'))
    changed = setup.key()
    assert changed.digest != key.digest
    assert changed.changed(key.inputs) == ["terraform/envs/local/main.tf"]

    (setup.root / "routing.json").write_text("{}")  # a new data file anywhere under terraform/
    assert setup.key().changed(changed.inputs) == ["terraform/routing.json"]

    other_port = cache_key(setup.stack, terraform_root=setup.root, port=setup.port + 1, region=setup.region)
    assert other_port.changed(setup.key().inputs) == ["emulator port"]
    other_region = cache_key(setup.stack, terraform_root=setup.root, port=setup.port, region="us-east-1")
    assert other_region.changed(setup.key().inputs) == ["region"]

    with_variable = cache_key(
        setup.stack,
        terraform_root=setup.root,
        port=setup.port,
        region=setup.region,
        variables={"approval_timeout_seconds": "12"},
    )
    assert with_variable.changed(setup.key().inputs) == ["variable approval_timeout_seconds"]

    names = set(key.inputs)
    assert {"moto", "terraform", "mlops_devstack/moto_ext.py", "mlops_devstack/recorder.py"} <= names
    assert any(name.startswith("provider ") for name in names)


def _real_terraform_copy(tmp_path: Path) -> tuple[Path, LocalStack]:
    """A copy of the repository's terraform/ (to edit freely) and the stack of its envs/local."""
    root = tmp_path / "terraform"
    shutil.copytree(
        repo_root() / "terraform", root, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl")
    )
    return root, LocalStack(state_dir=tmp_path / "state", config_dir=root / "envs" / "local")


def test_the_key_covers_the_real_terraform_tree(tmp_path: Path) -> None:
    root, stack = _real_terraform_copy(tmp_path)
    key = cache_key(stack, terraform_root=root, port=4566, region="eu-west-1")
    assert "terraform/templates/release_workflow.asl.json" in key.inputs
    assert "terraform/routing.json" in key.inputs
    # envs/local -> modules/platform_core -> the modules it calls (messaging, storage -> bucket, ...)
    assert "terraform/modules/platform_core/main.tf" in key.inputs
    assert "terraform/modules/messaging/main.tf" in key.inputs

    template = root / "templates" / "release_workflow.asl.json"
    template.write_text(template.read_text() + "\n")
    again = cache_key(stack, terraform_root=root, port=4566, region="eu-west-1")
    assert again.changed(key.inputs) == ["terraform/templates/release_workflow.asl.json"]


def test_the_key_leaves_out_what_envs_local_never_reads(tmp_path: Path) -> None:
    root, stack = _real_terraform_copy(tmp_path)
    key = cache_key(stack, terraform_root=root, port=4566, region="eu-west-1")
    # a module's own module (storage -> ./bucket) is an input; the production-only parts are not
    assert "terraform/modules/storage/bucket/main.tf" in key.inputs
    assert not any(name.startswith(("terraform/envs/prod/", "terraform/bootstrap/")) for name in key.inputs)
    assert "terraform/modules/network/main.tf" not in key.inputs

    for edited in ("envs/prod/main.tf", "modules/network/main.tf", "bootstrap/main.tf"):
        (root / edited).write_text((root / edited).read_text() + "\n# edited\n")
    assert cache_key(stack, terraform_root=root, port=4566, region="eu-west-1").digest == key.digest

    called = root / "modules" / "storage" / "bucket" / "main.tf"
    called.write_text(called.read_text() + "\n# edited\n")
    again = cache_key(stack, terraform_root=root, port=4566, region="eu-west-1")
    assert again.changed(key.inputs) == ["terraform/modules/storage/bucket/main.tf"]


# -- record, replay, verify -----------------------------------------------------------------------


def test_first_start_applies_and_records(recorded: tuple[Setup, Provisioned]) -> None:
    setup, first = recorded
    assert first.replayed is False
    cached = setup.cache.load()
    assert cached is not None
    assert cached.key == setup.key().digest
    entries = cached.entries()
    assert len(entries) == cached.manifest["requests"] > 10
    assert any("TrentService.CreateKey" in e.describe() for e in entries)
    assert json.loads((setup.cache.directory / "terraform.tfstate").read_text())["resources"]
    assert first.env["KMS_KEY_ARN"].startswith("arn:aws:kms:eu-west-1:")


def test_replay_reproduces_the_stack_in_a_fresh_emulator(
    recorded: tuple[Setup, Provisioned], fresh: EmulatorProcess
) -> None:
    setup, first = recorded
    second = setup.provision(fresh)

    assert second.replayed is True, setup.said()
    assert second.env == first.env  # the same random identifiers: KMS key id, secret ARN suffix
    assert "6 resources verified" in second.detail
    kms = emulator_clients(fresh.endpoint, setup.region)("kms")
    assert kms.describe_key(KeyId=second.env["KMS_KEY_ARN"])["KeyMetadata"]["Arn"] == first.env["KMS_KEY_ARN"]
    # Terraform itself, refreshing every resource of the restored state, sees no difference.
    assert _plan_exit_code(setup, fresh) == 0
    # The emulator is re-seeded at random afterwards: new identifiers are not the recorded ones.
    other = kms.create_key(Description="made after the replay")["KeyMetadata"]["Arn"]
    assert other != first.env["KMS_KEY_ARN"]


def test_a_replay_that_diverges_stops_at_the_first_other_answer(
    recorded: tuple[Setup, Provisioned], fresh: EmulatorProcess
) -> None:
    setup, _ = recorded
    cached = setup.cache.load()
    assert cached is not None
    control = fresh.control()
    control.seed(cached.manifest["seed"] + 1)  # other identifiers than the recording's
    with pytest.raises(
        ReplayError, match=r"TrentService.DescribeKey\) answered 400 instead of the recorded 200"
    ):
        control.replay(cached.entries())


def test_a_replayed_stack_that_differs_from_the_state_is_caught_and_applied(
    recorded: tuple[Setup, Provisioned], fresh: EmulatorProcess
) -> None:
    setup, first = recorded
    # A recording without the PutTargets request: every other request gets its recorded answer
    # (the target is only listed, never fetched by id), so only the verification can notice.
    cached = setup.cache.load()
    assert cached is not None
    entries = [e for e in cached.entries() if "AWSEvents.PutTargets" not in e.describe()]
    assert len(entries) == cached.manifest["requests"] - 1
    (setup.cache.directory / "requests.jsonl").write_text("".join(dump_entries(entries)))
    manifest = {**cached.manifest, "requests": len(entries)}
    (setup.cache.directory / "manifest.json").write_text(json.dumps(manifest))

    result = setup.provision(fresh)

    assert result.replayed is False
    said = setup.said()
    assert "does not reproduce the stack (the replayed stack differs: " in said
    assert "aws_cloudwatch_event_target.this: target missing or pointing elsewhere" in said
    # The fallback applied onto the reset emulator: everything of the state is there.
    state = json.loads(setup.stack.state_file.read_text())
    assert verify_stack(state, emulator_clients(fresh.endpoint, setup.region)).problems == []
    # (Another apply: Terraform's parallel requests may come in another order, so random
    # identifiers such as the secret's suffix may differ from the first apply's.)
    assert result.env.keys() == first.env.keys()
    remade = setup.cache.load()
    assert remade is not None
    assert remade.manifest["requests"] == cached.manifest["requests"]


def test_a_corrupt_cache_falls_back_to_apply_and_is_made_again(
    recorded: tuple[Setup, Provisioned], fresh: EmulatorProcess
) -> None:
    setup, first = recorded
    requests = setup.cache.directory / "requests.jsonl"
    lines = requests.read_text().splitlines(keepends=True)
    requests.write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:40])  # cut mid-line

    result = setup.provision(fresh)
    assert result.replayed is False
    assert f"{requests} is unreadable" in setup.said()
    assert result.env.keys() == first.env.keys()

    # The cache made by the fallback (after a reset of the emulator) replays onto a fresh emulator.
    fresh.stop()
    again = EmulatorProcess(port=setup.port).start()
    try:
        replayed = setup.provision(again)
        assert replayed.replayed is True, setup.said()
        assert replayed.env == result.env
    finally:
        again.stop()


def test_a_changed_configuration_is_not_replayed(
    recorded: tuple[Setup, Provisioned], fresh: EmulatorProcess
) -> None:
    setup, _ = recorded
    main = setup.stack.config_dir / "main.tf"
    original = main.read_text()
    # A change that Terraform rejects at once: the point is what happens before the apply.
    main.write_text(original + '\nresource "aws_sns_topic" "broken" {\n  name = \n}\n')
    try:
        with pytest.raises(TerraformError):
            setup.provision(fresh)
    finally:
        main.write_text(original)
    assert "changed since the cached apply: terraform/envs/local/main.tf; applying again" in setup.said()
    assert setup.cache.load() is None  # discarded, and nothing recorded from the failed apply
    assert fresh.control().stop_recording() == []


def test_verification_reports_each_missing_resource(
    recorded: tuple[Setup, Provisioned], fresh: EmulatorProcess
) -> None:
    setup, _ = recorded
    state = json.loads(setup.stack.state_file.read_text())
    empty = verify_stack(state, emulator_clients(fresh.endpoint, setup.region))
    assert empty.checked == 6
    assert len(empty.problems) == 6
    assert any(
        p.startswith("aws_cloudwatch_event_rule.this: ResourceNotFoundException") for p in empty.problems
    )


# -- the recorder -------------------------------------------------------------------------------


def test_the_recorder_keeps_order_and_statuses_and_the_replay_checks_them(emulator: Emulator) -> None:
    from mlops_contracts.aws import aws_client

    sqs = aws_client("sqs")
    control = emulator.control()
    name = f"recorder-{free_port()}"
    control.start_recording()
    try:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "42"})
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            sqs.get_queue_url(QueueName=f"{name}-missing")
    finally:
        entries = control.stop_recording()

    assert [e.status for e in entries] == [200, 400]
    assert b"VisibilityTimeout" in entries[0].body
    assert control.stop_recording() == []  # stopped: nothing more is recorded
    sqs.get_queue_url(QueueName=name)
    assert control.stop_recording() == []

    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    assert control.replay(entries) == 2  # the same answers again
    attributes = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], AttributeNames=["VisibilityTimeout"]
    )
    assert attributes["Attributes"]["VisibilityTimeout"] == "42"

    tampered = [entries[0], dataclasses.replace(entries[1], status=200)]
    with pytest.raises(ReplayError, match=r"request 2 \(POST / AmazonSQS.GetQueueUrl\) answered 400"):
        control.replay(tampered)


def test_terraform_version_is_read(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path)
    version = stack.version()
    out = subprocess.run([str(stack.terraform), "version"], capture_output=True, text=True, check=True)
    assert f"v{version}" in out.stdout

"""The Terraform driver (mlops_devstack.terraform) and the start-up errors of `make dev`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from mlops_contracts.aws import aws_client
from mlops_devstack import terraform
from mlops_devstack.emulator import Emulator, PortInUse, free_port
from mlops_devstack.envfile import parse_env_file
from mlops_devstack.stack import StackError, provision_aws
from mlops_devstack.terraform import (
    ApplyProgress,
    LocalStack,
    ProviderNotFound,
    StaleState,
    TerraformNotFound,
    find_provider_mirror,
    find_terraform,
    read_env_file,
    write_cli_config,
    write_env_file,
)


def _fake_mirror(root: Path) -> Path:
    binary = (
        root / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"
    )
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    return root


def test_mirror_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = _fake_mirror(tmp_path / "mirror")
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(mirror))
    assert find_provider_mirror(candidates=[]) == mirror


def test_mirror_from_the_environment_must_hold_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(tmp_path))
    with pytest.raises(ProviderNotFound, match="holds no hashicorp/aws provider"):
        find_provider_mirror(candidates=[_fake_mirror(tmp_path / "elsewhere")])


def test_mirror_found_in_the_first_candidate_that_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_PROVIDER_MIRROR", raising=False)
    empty, mirror = tmp_path / "empty", _fake_mirror(tmp_path / "mirror")
    empty.mkdir()
    assert find_provider_mirror(candidates=[empty, mirror]) == mirror


def test_no_mirror_says_where_it_looked_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_PROVIDER_MIRROR", raising=False)
    with pytest.raises(ProviderNotFound) as caught:
        find_provider_mirror(candidates=[tmp_path / "a", tmp_path / "b"])
    message = str(caught.value)
    assert str(tmp_path / "a") in message
    assert "TF_PROVIDER_MIRROR" in message
    assert "terraform providers mirror" in message


def test_terraform_missing_from_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERRAFORM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TerraformNotFound, match="Terraform is not installed"):
        find_terraform()


def test_terraform_bin_must_be_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRAFORM_BIN", str(tmp_path / "terraform"))
    with pytest.raises(TerraformNotFound, match="not an executable file"):
        find_terraform()


def test_cli_config_installs_from_the_mirror_only(tmp_path: Path) -> None:
    path = write_cli_config(Path("/some/mirror"), tmp_path)
    text = path.read_text()
    assert 'path    = "/some/mirror"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/*/*"]' in text
    assert write_cli_config(Path("/some/mirror"), tmp_path).stat().st_mtime_ns == path.stat().st_mtime_ns


def test_progress_and_errors_from_apply_json() -> None:
    lines = [
        {"type": "change_summary", "changes": {"add": 3, "change": 0, "remove": 0, "operation": "plan"}},
        {"type": "apply_start", "hook": {"resource": {"addr": "data.aws_region.x"}, "action": "read"}},
        {"type": "apply_complete", "hook": {"resource": {"addr": "data.aws_region.x"}, "action": "read"}},
        {"type": "apply_start", "hook": {"resource": {"addr": "aws_sqs_queue.a"}, "action": "create"}},
        {"type": "apply_start", "hook": {"resource": {"addr": "aws_sqs_queue.b"}, "action": "create"}},
        {"type": "apply_complete", "hook": {"resource": {"addr": "aws_sqs_queue.a"}, "action": "create"}},
        {"type": "apply_errored", "hook": {"resource": {"addr": "aws_sqs_queue.b"}, "action": "create"}},
        {
            "type": "diagnostic",
            "@level": "error",
            "diagnostic": {"summary": "creating queue", "detail": "boom", "address": "aws_sqs_queue.b"},
        },
        {"type": "diagnostic", "@level": "warning", "diagnostic": {"summary": "deprecated"}},
    ]
    progress, errors = ApplyProgress(), []
    for line in [*map(json.dumps, lines), "not json"]:
        terraform._track(line, progress, errors)
    assert (progress.planned, progress.done, progress.current) == (3, 1, [])
    assert errors == ["  aws_sqs_queue.b: creating queue\n    boom"]


def test_env_file_round_trip(tmp_path: Path) -> None:
    env = {"EVENT_BUS_NAME": "mlops-events", "TRAINING_QUEUE_URL": "http://127.0.0.1:1/123/q?x=1"}
    path = write_env_file(env, tmp_path / "stack.env")
    assert read_env_file(path) == env
    assert parse_env_file(path) == env  # what the local runner reads
    with pytest.raises(ValueError, match="newline"):
        write_env_file({"BAD": "a\nb"}, tmp_path / "bad.env")


@pytest.mark.integration  # runs bash
def test_env_file_reads_the_same_in_a_shell_and_in_python_dotenv(tmp_path: Path) -> None:
    env = {"PLAIN": "arn:aws:sqs:eu-west-1:1:q", "SPACED": "two words #not a comment", "DOLLAR": "$HOME"}
    path = write_env_file(env, tmp_path / "stack.env")
    assert read_env_file(path) == env
    shell = subprocess.run(
        ["bash", "-c", f"set -a; . '{path}'; set +a; " + "; ".join(f'echo "${k}"' for k in env)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": "/nowhere"},
    )
    assert shell.stdout.splitlines() == list(env.values())
    with pytest.raises(ValueError, match="quote"):
        write_env_file({"BAD": "it's"}, tmp_path / "bad.env")


def _state(stack: LocalStack, outputs: dict[str, object]) -> None:
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    stack.state_file.write_text(
        json.dumps({"version": 4, "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()}})
    )


def test_state_of_another_emulator_is_stale(emulator: Emulator, tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path)
    assert stack.state_is_stale(emulator.endpoint, emulator.region) is False  # no state yet

    machine = aws_client("stepfunctions").create_state_machine(
        name=f"stale-{free_port()}",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    env = {"EVENTS_DELIVERY_DLQ_URL": f"{emulator.endpoint}/123456789012/mlops-events-delivery-dlq"}
    _state(stack, {"state_machine_arn": machine, "service_env": env})
    assert stack.state_is_stale(emulator.endpoint, emulator.region) is False

    _state(stack, {"state_machine_arn": machine.replace(":stale-", ":gone-"), "service_env": env})
    assert stack.state_is_stale(emulator.endpoint, emulator.region) is True

    other = {"EVENTS_DELIVERY_DLQ_URL": "http://127.0.0.1:1/123456789012/mlops-events-delivery-dlq"}
    _state(stack, {"state_machine_arn": machine, "service_env": other})
    assert stack.state_is_stale(emulator.endpoint, emulator.region) is True

    stack.state_file.write_text("{ half a state")
    with pytest.raises(StaleState, match="unreadable"):
        stack.state_is_stale(emulator.endpoint, emulator.region)
    stack.reset_state()
    assert not stack.state_file.exists()


def test_make_dev_says_when_terraform_is_missing(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_REPO_ROOT", str(tmp_path))  # .local/ of a scratch checkout
    monkeypatch.setenv("TERRAFORM_BIN", str(tmp_path / "no-terraform"))
    with pytest.raises(StackError, match=r"TERRAFORM_BIN=.* is not an executable file"):
        provision_aws(emulator)


def test_make_dev_says_when_the_provider_is_missing(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_REPO_ROOT", str(tmp_path))
    monkeypatch.setenv("TF_PROVIDER_MIRROR", str(tmp_path / "no-mirror"))
    with pytest.raises(StackError, match="holds no hashicorp/aws provider"):
        provision_aws(emulator)


def test_emulator_port_taken_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is taken.*EMULATOR_PORT"):
            Emulator(port=port).start()
    assert os.environ.get("MOTO_PORT") != str(port)

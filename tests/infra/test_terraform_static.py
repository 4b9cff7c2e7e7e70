"""Terraform checks that need no emulator: formatting, validation, the routing data, module hygiene."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops_devstack.terraform import LocalStack, find_terraform

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = TERRAFORM / "modules"
ROUTING = json.loads((TERRAFORM / "routing.json").read_text())
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")


@pytest.mark.integration  # runs terraform
def test_terraform_is_formatted() -> None:
    result = subprocess.run(
        [str(find_terraform()), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"run `terraform fmt -recursive terraform`:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.integration  # runs terraform
def test_envs_local_validates(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path)
    stack.init()
    stack.validate()  # raises TerraformError with terraform's diagnostics


@pytest.mark.parametrize(
    "module", sorted(str(p.parent.relative_to(MODULES)) for p in MODULES.rglob("versions.tf"))
)
def test_module_layout_and_hygiene(module: str) -> None:
    directory = MODULES / module
    for name in MODULE_FILES:
        assert (directory / name).is_file(), f"modules/{module} lacks {name}"
    source = "\n".join(p.read_text() for p in directory.glob("*.tf"))
    # Modules are the same for AWS and the emulator: no provider configuration, no local tricks.
    for forbidden in ('provider "aws"', "skip_credentials_validation", "127.0.0.1", "localhost"):
        assert forbidden not in source, f"modules/{module} contains {forbidden!r}"
    # a provider's `endpoints { ... }` block (the network module's VPC endpoints are another thing)
    assert not re.search(r"\bendpoints\s*\{", source), f"modules/{module} overrides provider endpoints"
    # Every variable is typed and described.
    variables = (directory / "variables.tf").read_text()
    blocks = re.findall(r'variable "([^"]+)" \{(.*?)\n\}', variables, flags=re.S)
    assert blocks, f"modules/{module} declares no variable"
    for name, body in blocks:
        assert re.search(r"^\s+type\s+=", body, flags=re.M), f"modules/{module}: variable {name} has no type"
        assert re.search(r"^\s+description\s+=", body, flags=re.M), f"{module}: variable {name} undescribed"
    for name, body in re.findall(
        r'output "([^"]+)" \{(.*?)\n\}', (directory / "outputs.tf").read_text(), re.S
    ):
        assert "description" in body, f"modules/{module}: output {name} undescribed"


def _table_names(readme: str, heading: str) -> list[str]:
    """The first column of the table under `## heading` (terraform-docs' layout)."""
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    return [row.split("|")[1].strip() for row in rows]


@pytest.mark.parametrize(
    "module", sorted(str(p.parent.relative_to(MODULES)) for p in MODULES.rglob("versions.tf"))
)
def test_module_readme_lists_its_inputs_and_outputs(module: str) -> None:
    directory = MODULES / module
    readme = (directory / "README.md").read_text()
    assert readme.startswith(f"# {module}\n\n"), f"modules/{module}/README.md: title, then its purpose"
    variables = re.findall(r'^variable "([^"]+)"', (directory / "variables.tf").read_text(), re.M)
    outputs = re.findall(r'^output "([^"]+)"', (directory / "outputs.tf").read_text(), re.M)
    assert _table_names(readme, "Inputs") == variables, f"modules/{module}/README.md: Inputs"
    assert _table_names(readme, "Outputs") == outputs, f"modules/{module}/README.md: Outputs"


SHARED_MODULES = ("kms", "notifications", "messaging", "storage", "secrets", "orchestration")


@pytest.mark.parametrize("env", ["local", "prod"])
def test_envs_share_platform_core_and_move_their_old_state_into_it(env: str) -> None:
    """A state applied before modules/platform_core existed migrates without destroying anything."""
    main = (TERRAFORM / "envs" / env / "main.tf").read_text()
    assert 'source = "../../modules/platform_core"' in main
    moves = set(re.findall(r"moved \{\s*from = (\S+)\s*to\s*= (\S+)\s*\}", main))
    assert moves == {(f"module.{m}", f"module.platform_core.module.{m}") for m in SHARED_MODULES}
    for name in SHARED_MODULES:
        assert f'source = "../../modules/{name}"' not in main, f"envs/{env} calls modules/{name} itself"


def test_no_provider_mirror_path_is_committed() -> None:
    for path in TERRAFORM.rglob("*"):
        if path.is_file() and ".terraform" not in path.parts:
            assert "tf-plugins" not in path.read_text(errors="replace"), path


def _targets(rule: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["type"], t["name"]) for t in rule["targets"]}


def test_only_run_created_starts_the_release_workflow() -> None:
    """docs/decisions/0001-one-orchestrator.md: the state machine is the one orchestrator; nothing
    routes work to the work queues. Besides run.created, the API's deployment.requested starts it, in
    its deploy-only mode (docs/decisions/0021-deployments.md)."""
    starters = {
        name for name, rule in ROUTING["rules"].items() if ("state_machine", "release") in _targets(rule)
    }
    assert starters == {"mlops-run-created-release", "mlops-deployment-requested-release"}
    assert ROUTING["rules"]["mlops-run-created-release"]["event_pattern"] == {
        "source": ["mlops.api"],
        "detail-type": ["run.created"],
    }
    assert ROUTING["rules"]["mlops-deployment-requested-release"]["event_pattern"] == {
        "source": ["mlops.api"],
        "detail-type": ["deployment.requested"],
    }
    # a retired deployment's process or endpoint is stopped by the deployer: a stop, not work
    assert ROUTING["rules"]["mlops-deployment-retired-deployer"]["event_pattern"] == {
        "source": ["mlops.api"],
        "detail-type": ["deployment.status_changed"],
        "detail": {"status": ["retired"]},
    }
    work_queues = {"training", "evaluation", "approval"}
    for name, rule in ROUTING["rules"].items():
        assert not {n for t, n in _targets(rule) if t == "queue"} & work_queues, name


def test_the_api_own_events_never_reach_the_projector_or_notifications() -> None:
    """The projector applies facts through the API, which publishes run.status_changed (source
    mlops.api): routing those back would loop. Besides the workflow's facts, only the training job's
    progress (source mlops.training, that one detail-type, which changes no status) reaches the
    projector."""
    for name, rule in ROUTING["rules"].items():
        if _targets(rule) & {("queue", "run_events"), ("topic", "notifications")}:
            pattern = rule["event_pattern"]
            assert pattern["source"] in (["mlops.workflow"], ["mlops.training"]), name
            if pattern["source"] == ["mlops.training"]:
                assert pattern["detail-type"] == ["run.training_progress"], name
                assert _targets(rule) == {("queue", "run_events")}, name


def test_routing_targets_are_known() -> None:
    known = {
        "queue": {"training", "evaluation", "approval", "run_events", "notifications", "deployments"},
        "state_machine": {"release"},
        "topic": {"notifications"},
    }
    for name, rule in ROUTING["rules"].items():
        assert rule["targets"], name
        for kind, target in _targets(rule):
            assert target in known[kind], f"{name}: unknown {kind} {target}"

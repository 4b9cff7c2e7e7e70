"""`make plan` refuses a judge model that Bedrock does not offer in the judge's Region (#18.6): the
default judge, Mistral Small (24.02), is offered in us-east-1 only, and a deployment that asked for
it in eu-west-1 planned fine, then failed at its first evaluation. terraform/bedrock_models.json is
the one table; envs/prod's variable validations read it.

The validations are planned on their own: the variables and the table's locals are taken from
envs/prod/variables.tf as they are (no provider, no emulator: the check happens before either)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_devstack.terraform import find_terraform

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
CHECKED = ("region", "bedrock_region", "judge_model_id", "judge_embedding_model_id")


def _block(source: str, header: str) -> str:
    """One top-level block of an HCL file, from its header line to its closing brace."""
    start = source.index(header)
    end = source.index("\n}\n", start) + 3
    return source[start:end]


@pytest.fixture(scope="module")
def judge_variables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("judge-regions")
    module = root / "envs" / "prod"
    module.mkdir(parents=True)
    shutil.copy(TERRAFORM / "bedrock_models.json", root / "bedrock_models.json")
    source = (TERRAFORM / "envs" / "prod" / "variables.tf").read_text()
    blocks = [_block(source, f'variable "{name}" {{') for name in CHECKED]
    blocks.append(_block(source, "locals {\n  bedrock_models_offered"))
    (module / "variables.tf").write_text("\n".join(blocks))
    (module / "outputs.tf").write_text('output "judge_region" {\n  value = local.judge_region\n}\n')
    return module


def plan(module: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    args = [str(find_terraform()), "plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"]
    args += [f"-var={name}={value}" for name, value in variables.items()]
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(args, cwd=module, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.integration  # runs terraform
def test_the_defaults_are_offered_where_the_judge_runs(judge_variables: Path) -> None:
    planned = plan(judge_variables)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert 'judge_region = "us-east-1"' in planned.stdout


@pytest.mark.integration  # runs terraform
def test_a_judge_bedrock_does_not_offer_in_the_region_fails_the_plan_naming_where_it_is(
    judge_variables: Path,
) -> None:
    planned = plan(judge_variables, bedrock_region="eu-west-1")
    assert planned.returncode != 0
    error = " ".join(planned.stderr.split())
    assert (
        "Bedrock does not offer the judge model mistral.mistral-small-2402-v1:0 in eu-west-1; "
        "it is offered in: us-east-1 (terraform/bedrock_models.json)"
    ) in error


@pytest.mark.integration  # runs terraform
def test_the_embedding_model_is_checked_too_and_unknown_models_are_left_to_the_worker(
    judge_variables: Path,
) -> None:
    planned = plan(judge_variables, bedrock_region="ap-southeast-1", judge_model_id="example.unlisted-v1:0")
    assert planned.returncode != 0
    error = " ".join(planned.stderr.split())
    assert "does not offer the embedding model amazon.titan-embed-text-v2:0 in ap-southeast-1" in error
    assert "judge model" not in error  # not in the table: the evaluation worker asks Bedrock at start


def test_the_table_is_well_formed() -> None:
    table = json.loads((TERRAFORM / "bedrock_models.json").read_text())
    region = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    assert table["models"]
    for model, regions in table["models"].items():
        assert regions, model
        assert all(region.match(r) for r in regions), (model, regions)
        assert len(set(regions)) == len(regions), model

"""Fixtures of the infrastructure tests: `terraform/envs/prod` planned against the AWS emulator.

A plan creates nothing: it reads the data sources (caller identity, availability zones) and computes
what it would create, so the whole production estate plans against moto, even the services moto
cannot create (ECS, the load balancer, RDS options ...). The configuration is copied to a temporary directory
with two override files: a local backend instead of S3 and a provider pointed at the emulator with
its fake credentials. Every IAM policy of the estate is built from names, so the plan holds each
policy document in full.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops_devstack.emulator import Emulator
from mlops_devstack.terraform import find_provider_mirror, find_terraform, write_cli_config
from mlops_testkit.servers import ProvisionedStack, provision_local_stack

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"

# The services whose endpoints the provider is pointed at (every one envs/prod uses).
ENDPOINT_SERVICES = [
    "appautoscaling",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "rds",
    "s3",
    "sagemaker",
    "secretsmanager",
    "servicediscovery",
    "sfn",
    "sns",
    "sqs",
    "sts",
]

PLAN_VARIABLES = {
    "image_tag": "0123456789abcdef0123456789abcdef01234567",
    "inference_image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-inference:test",
    "alarm_emails": '["oncall@example.com"]',
    "domain_name": "mlops.example.com",
    "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
    "oidc_issuer": "https://idp.example.com",
    "oidc_authorization_endpoint": "https://idp.example.com/oauth2/authorize",
    "oidc_token_endpoint": "https://idp.example.com/oauth2/token",
    "oidc_user_info_endpoint": "https://idp.example.com/oauth2/userinfo",
    "oidc_client_id": "mlops-platform",
    "oidc_client_secret_id": "mlops-test/oidc-client-secret",
}
# The sign-in's client secret, which envs/prod reads from Secrets Manager at plan time: the plan's
# fixture puts it in the emulator first, as an operator does before the first apply.
OIDC_CLIENT_SECRET = "client-secret-of-the-plan"


def emulator_overrides(endpoint: str, region: str) -> str:
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in ENDPOINT_SERVICES)
    return f"""
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  region                      = "{region}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


def terraform_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(write_cli_config(find_provider_mirror(), work / "cli")),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        [str(find_terraform()), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"terraform {' '.join(args)} failed:\n{result.stdout[-4000:]}{result.stderr[-6000:]}"
    )
    return result.stdout


def _put_oidc_client_secret(endpoint: str, region: str) -> None:
    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = PLAN_VARIABLES["oidc_client_secret_id"]
    try:
        client.create_secret(Name=name, SecretString=OIDC_CLIENT_SECRET)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=OIDC_CLIENT_SECRET)


def plan_prod(endpoint: str, region: str, work: Path) -> dict[str, Any]:
    """`terraform show -json` of the plan of envs/prod against the emulator at `endpoint`."""
    copy = work / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.lock.hcl"))
    config = copy / "envs" / "prod"
    _put_oidc_client_secret(endpoint, region)
    (config / "emulator_override.tf").write_text(emulator_overrides(endpoint, region))
    env = terraform_env(work)
    run(["init", "-input=false", "-no-color"], config, env)
    args = ["plan", "-input=false", "-no-color", "-lock=false", "-out=prod.tfplan", f"-var=region={region}"]
    args += [f"-var={name}={value}" for name, value in PLAN_VARIABLES.items()]
    run(args, config, env)
    plan: dict[str, Any] = json.loads(run(["show", "-json", "prod.tfplan"], config, env))
    return plan


def resources(module: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource of a planned_values module, its children's included."""
    found = list(module.get("resources", []))
    for child in module.get("child_modules", []):
        found += resources(child)
    return found


class ProdPlan:
    """The plan's JSON and what the tests look up in it."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.all = resources(plan["planned_values"]["root_module"])

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.all if r["type"] == kind]

    def values(self, kind: str) -> list[dict[str, Any]]:
        return [r["values"] for r in self.of_type(kind)]

    def by_address(self, address: str) -> dict[str, Any]:
        found = [r for r in self.all if r["address"] == address]
        assert found, f"the plan creates no {address}"
        return dict(found[0]["values"])


@pytest.fixture(scope="session")
def plan_inputs() -> dict[str, str]:
    """The variables envs/prod is planned with, and the client secret the plan reads from the emulator."""
    return {**PLAN_VARIABLES, "oidc_client_secret": OIDC_CLIENT_SECRET}


@pytest.fixture(scope="session")
def prod_plan(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> ProdPlan:
    """The whole of envs/prod planned against the session's emulator (about 20 s)."""
    return ProdPlan(plan_prod(emulator.endpoint, emulator.region, tmp_path_factory.mktemp("prod-plan")))


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvisionedStack]:
    """A stack of these tests' own: they check what Terraform made, exactly, while the end-to-end
    tests' workers poll the shared stack's queues and add rules and queues of their own to it."""
    yield from provision_local_stack(tmp_path_factory)

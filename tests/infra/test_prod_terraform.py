"""terraform/envs/prod and terraform/bootstrap: they validate, and the whole production estate plans
against the AWS emulator with what the seed and the issue ask for (network, RDS, ECR, App Runner,
Lambda, SageMaker, CloudWatch). Plans create nothing, so services moto cannot create plan too."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops_devstack.terraform import find_provider_mirror, find_terraform, write_cli_config
from mlops_sqs_runtime.runner import REPOSITORY_MAPPINGS_FILE

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
ProdPlan = Any  # conftest.ProdPlan
MAPPINGS = json.loads((TERRAFORM / "lambda_mappings.json").read_text())["mappings"]


@pytest.mark.parametrize("root", ["envs/prod", "bootstrap"])
@pytest.mark.integration  # runs terraform
def test_root_validates(root: str, tmp_path: Path) -> None:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.lock.hcl"))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TF_CLI_CONFIG_FILE": str(write_cli_config(find_provider_mirror(), tmp_path / "cli")),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    for args in (["init", "-backend=false", "-input=false", "-no-color"], ["validate", "-no-color"]):
        result = subprocess.run(
            [str(find_terraform()), *args],
            cwd=copy / root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"terraform {args[0]} of {root}:\n{result.stdout}{result.stderr}"


def test_the_prod_backend_is_remote_and_locked() -> None:
    versions = (TERRAFORM / "envs/prod/versions.tf").read_text()
    assert 'backend "s3" {}' in versions
    example = (TERRAFORM / "envs/prod/backend.hcl.example").read_text()
    assert "use_lockfile = true" in example
    assert "encrypt      = true" in example


def test_network(prod_plan: ProdPlan) -> None:
    (vpc,) = prod_plan.values("aws_vpc")
    assert vpc["cidr_block"] == "10.0.0.0/16"
    subnets = {s["cidr_block"]: s for s in prod_plan.values("aws_subnet")}
    assert set(subnets) == {"10.0.1.0/24", "10.0.2.0/24", "10.0.10.0/24", "10.0.11.0/24"}
    assert len({s["availability_zone"] for s in subnets.values()}) == 2
    assert not any(s["map_public_ip_on_launch"] for s in subnets.values())
    assert len(prod_plan.of_type("aws_nat_gateway")) == 2
    {
        e["service_name"].rsplit(".", 1)[-1] if "sagemaker" not in e["service_name"] else "sagemaker.api": e
        for e in prod_plan.values("aws_vpc_endpoint")
    }
    services = {
        e["service_name"].removeprefix("com.amazonaws.eu-west-1.")
        for e in prod_plan.values("aws_vpc_endpoint")
    }
    assert services == {
        "s3", "secretsmanager", "sagemaker.api", "events", "ecr.api", "ecr.dkr",
        "bedrock-runtime", "states", "sqs", "logs",
    }  # fmt: skip
    assert prod_plan.values("aws_flow_log")


def test_database(prod_plan: ProdPlan) -> None:
    (db,) = prod_plan.values("aws_db_instance")
    assert db["engine"] == "postgres"
    assert db["engine_version"] == "16"
    assert db["instance_class"] == "db.t4g.micro"
    assert db["storage_encrypted"]
    assert not db["publicly_accessible"]
    assert db["backup_retention_period"] == 7
    assert db["multi_az"] is True
    assert db["manage_master_user_password"] is True
    assert db.get("password") is None, "the master password is RDS's, never Terraform's"
    assert db["deletion_protection"] is True
    (rotation,) = prod_plan.values("aws_secretsmanager_secret_rotation")
    assert rotation["rotation_rules"][0]["automatically_after_days"] == 30
    (params,) = prod_plan.values("aws_db_parameter_group")
    assert {"name": "rds.force_ssl", "value": "1", "apply_method": "immediate"} in params["parameter"]
    ingress = prod_plan.values("aws_vpc_security_group_ingress_rule")
    postgres = [rule for rule in ingress if rule["from_port"] == 5432]
    assert len(postgres) == 1
    assert postgres[0].get("cidr_ipv4") is None, "PostgreSQL only from the API's connector"


def test_one_scanned_immutable_repository_per_image(prod_plan: ProdPlan) -> None:
    images = {p.parent.name for p in ROOT.glob("services/*/Dockerfile")} | {
        p.parent.name for p in ROOT.glob("workers/*/Dockerfile")
    }
    repositories = {r["name"]: r for r in prod_plan.values("aws_ecr_repository")}
    assert set(repositories) == {f"mlops-{image}" for image in images}
    for repo in repositories.values():
        assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
        assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert len(prod_plan.of_type("aws_ecr_lifecycle_policy")) == len(repositories)


def test_app_runner_services(prod_plan: ProdPlan) -> None:
    services = {s["service_name"]: s for s in prod_plan.values("aws_apprunner_service")}
    assert set(services) == {"mlops-api", "mlops-ui"}
    scaling = {
        s["auto_scaling_configuration_name"]: s
        for s in prod_plan.values("aws_apprunner_auto_scaling_configuration_version")
    }
    assert (
        scaling["mlops-api"]["min_size"],
        scaling["mlops-api"]["max_size"],
        scaling["mlops-api"]["max_concurrency"],
    ) == (1, 5, 50)
    assert (scaling["mlops-ui"]["min_size"], scaling["mlops-ui"]["max_size"]) == (1, 3)
    api, ui = services["mlops-api"], services["mlops-ui"]
    assert api["instance_configuration"][0]["cpu"] == "0.5 vCPU"
    assert api["instance_configuration"][0]["memory"] == "1 GB"
    assert ui["instance_configuration"][0]["cpu"] == "0.25 vCPU"
    assert ui["instance_configuration"][0]["memory"] == "0.5 GB"
    image = api["source_configuration"][0]["image_repository"][0]
    assert image["image_identifier"].endswith("/mlops-api:0123456789abcdef0123456789abcdef01234567")
    assert image["image_configuration"][0]["port"] == "8000"
    assert api["network_configuration"][0]["egress_configuration"][0]["egress_type"] == "VPC"
    assert len(prod_plan.of_type("aws_apprunner_vpc_connector")) == 1


def test_the_api_reads_the_database_secret_and_migrates_as_it_starts(prod_plan: ProdPlan) -> None:
    # The environment is unknown until apply (the database's address): check the configuration.
    api = prod_plan.plan["configuration"]["root_module"]["module_calls"]["api"]["expressions"]
    assert "module.database.master_user_secret_arn" in api["environment"]["references"]
    block = (
        (TERRAFORM / "envs/prod/compute.tf").read_text().split('module "api" {', 1)[1].split("\n}\n", 1)[0]
    )
    environment = dict(re.findall(r"^\s+([A-Z_]+)\s+=\s+(.+)$", block, re.MULTILINE))
    assert environment["MIGRATE_ON_START"] == '"true"'  # App Runner has no one-off migration task
    assert {"DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_SECRET_ARN"} <= set(environment)
    assert "DATABASE_URL" not in environment


def _handler_exists(dotted: str) -> bool:
    module, _, function = dotted.rpartition(".")
    for src in ROOT.glob("workers/*/src"):
        path = src / (module.replace(".", "/") + ".py")
        if path.is_file():
            tree = ast.parse(path.read_text())
            return any(isinstance(n, ast.FunctionDef) and n.name == function for n in tree.body)
    return False


# function name -> (the local runner's mapping it plays, its queue key, its image)
LAMBDAS = {
    "mlops-eval": ("evaluation", "evaluation"),
    "mlops-training-dispatcher": ("training", "training"),
    "mlops-approval": ("approval", "approval"),
    "mlops-teams-formatter": ("notifications", "approval"),
    "mlops-projector": ("run_events", "projector"),
    "mlops-claims": ("claims", "projector"),
}


def test_lambda_functions(prod_plan: ProdPlan) -> None:
    functions = {f["function_name"]: f for f in prod_plan.values("aws_lambda_function")}
    assert set(functions) == {*LAMBDAS, "mlops-training-completion"}
    for name, fn in functions.items():
        assert fn["package_type"] == "Image"
        config = fn["image_config"][0]
        assert config["entry_point"] == ["python", "-m", "awslambdaric"], name
        (handler,) = config["command"]
        assert _handler_exists(handler), f"{name}: {handler} is not a function of the workers' code"
        assert fn["tracing_config"][0]["mode"] == "Active"
    assert functions["mlops-eval"]["reserved_concurrent_executions"] == 2
    assert functions["mlops-eval"]["timeout"] == 900
    assert functions["mlops-training-completion"]["image_config"][0]["command"] == [
        "mlops_training.dispatch.handler.completion_handler"
    ]
    for name, (mapping, image) in LAMBDAS.items():
        assert functions[name]["image_uri"].split("/")[-1].startswith(f"mlops-{image}:"), name
        assert functions[name]["image_config"][0]["command"] == [
            MAPPINGS[mapping]["handler"].replace(":", ".")
        ]


def test_prod_and_the_runner_read_the_one_mappings_file() -> None:
    compute = (TERRAFORM / "envs/prod/compute.tf").read_text()
    assert 'jsondecode(file("${path.module}/../../lambda_mappings.json"))' in compute
    assert REPOSITORY_MAPPINGS_FILE == TERRAFORM / "lambda_mappings.json"
    # every SQS-triggered function takes its handler and its batching from the file
    assert compute.count("local.lambda_handler[") == len(LAMBDAS)
    assert compute.count("local.sqs_source[") == len(LAMBDAS)


def test_sqs_mappings_report_partial_failures_as_the_local_runner_does(prod_plan: ProdPlan) -> None:
    mappings = prod_plan.of_type("aws_lambda_event_source_mapping")
    assert {m["index"] for m in mappings} == set(LAMBDAS)
    queues = {q["name"]: q for q in prod_plan.values("aws_sqs_queue")}
    functions = {f["function_name"]: f for f in prod_plan.values("aws_lambda_function")}
    for mapping in mappings:
        values, local = mapping["values"], MAPPINGS[LAMBDAS[mapping["index"]][0]]
        assert values["function_response_types"] == ["ReportBatchItemFailures"]
        assert values["batch_size"] == local["batch_size"]
        assert values["maximum_batching_window_in_seconds"] == local.get("max_batching_window_seconds", 0)
        queue = queues[
            local["queue_url_env"]
            .removesuffix("_QUEUE_URL")
            .lower()
            .replace("_", "-")
            .replace("evaluation", "eval")
            .join(["mlops-", "-queue"])
        ]
        assert functions[mapping["index"]]["timeout"] <= queue["visibility_timeout_seconds"], (
            f"{mapping['index']} may outlive its messages' visibility"
        )


def test_training_completion_is_triggered_by_sagemaker(prod_plan: ProdPlan) -> None:
    rule = prod_plan.by_address('module.lambdas.aws_cloudwatch_event_rule.this["mlops-training-completion"]')
    assert rule["event_bus_name"] == "default"
    pattern = json.loads(rule["event_pattern"])
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Training Job State Change"]
    assert set(pattern["detail"]["TrainingJobStatus"]) == {"Completed", "Failed", "Stopped"}
    assert prod_plan.of_type("aws_lambda_permission")


def test_log_retention_as_in_the_seed(prod_plan: ProdPlan) -> None:
    groups = {g["name"]: g for g in prod_plan.values("aws_cloudwatch_log_group")}
    assert groups["/aws/lambda/mlops-eval"]["retention_in_days"] == 14
    assert groups["/aws/lambda/mlops-training-dispatcher"]["retention_in_days"] == 14
    assert groups["/aws/sagemaker/TrainingJobs"]["retention_in_days"] == 30
    assert groups["/aws/vendedlogs/states/mlops-release-workflow"]["retention_in_days"] == 30


def test_alarms_dashboard_and_tracing(prod_plan: ProdPlan) -> None:
    alarms = {a["alarm_name"]: a for a in prod_plan.values("aws_cloudwatch_metric_alarm")}
    dlqs = {
        name for name, a in alarms.items() if a.get("metric_name") == "ApproximateNumberOfMessagesVisible"
    }
    assert len(dlqs) == 7  # six work queues' DLQs and the bus's delivery DLQ
    assert alarms["mlops-workflow-failed"]["metric_name"] == "ExecutionsFailed"
    assert alarms["mlops-lambda-duration-mlops-eval"]["threshold"] == 800000
    assert {f"mlops-lambda-errors-{name}" for name in [*LAMBDAS, "mlops-training-completion"]} <= set(alarms)
    assert {"mlops-apprunner-5xx-mlops-api", "mlops-apprunner-5xx-mlops-ui"} <= set(alarms)
    mlscore = alarms["mlops-mlscore-degraded"]
    assert mlscore["threshold"] == 0.5
    assert mlscore["comparison_operator"] == "LessThanThreshold"
    assert "AVG(MLScore)" in mlscore["metric_query"][0]["expression"]
    (dashboard,) = prod_plan.values("aws_cloudwatch_dashboard")
    assert dashboard["dashboard_name"] == "mlops-operations"
    (machine,) = prod_plan.values("aws_sfn_state_machine")
    assert machine["tracing_configuration"][0]["enabled"] is True


def test_state_machine_renders_the_same_template(prod_plan: ProdPlan) -> None:
    """docs/decisions/0002-one-asl-template.md: envs/local and envs/prod render the one ASL template."""
    (machine,) = prod_plan.values("aws_sfn_state_machine")
    assert machine["name"] == "mlops-release-workflow"
    line = 'definition_template_path = "${path.module}/../../templates/release_workflow.asl.json"'
    core = TERRAFORM / "modules" / "platform_core" / "main.tf"
    assert line in " ".join(core.read_text().split())
    # both environments render it through modules/platform_core, and neither through a copy of its own
    for env in ("local", "prod"):
        main = " ".join((TERRAFORM / "envs" / env / "main.tf").read_text().split())
        assert 'source = "../../modules/platform_core"' in main, env
        assert 'source = "../../modules/orchestration"' not in main, env

"""terraform/envs/prod and terraform/bootstrap: they validate, and the whole production estate plans
against the AWS emulator with what the seed and the issues ask for (network, RDS, ECR, ECS Fargate
behind an ALB with sign-in, Lambda, SageMaker, CloudWatch). Plans create nothing, so services moto cannot create plan too."""

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


def _alb_resource(prod_plan: ProdPlan, address: str) -> dict[str, Any]:
    """The configuration of one resource of modules/alb (references, where values are unknown at plan)."""
    module = prod_plan.plan["configuration"]["root_module"]["module_calls"]["alb"]["module"]
    (resource,) = [r for r in module["resources"] if r["address"] == address]
    return dict(resource["expressions"])


def _module_call(prod_plan: ProdPlan, name: str) -> dict[str, Any]:
    return dict(prod_plan.plan["configuration"]["root_module"]["module_calls"][name]["expressions"])


def _hcl_block(path: Path, opening: str) -> str:
    return path.read_text().split(opening, 1)[1].split("\n}\n", 1)[0]


def test_no_app_runner_left() -> None:
    """App Runner takes no new customers since 2026 (docs/decisions/0018-ecs-fargate-behind-an-alb.md)."""
    assert not (TERRAFORM / "modules" / "apprunner").exists()
    for path in TERRAFORM.rglob("*.tf"):
        assert "aws_apprunner" not in path.read_text(), path


def test_ecs_services_on_fargate_in_the_private_subnets(prod_plan: ProdPlan) -> None:
    (cluster,) = prod_plan.values("aws_ecs_cluster")
    assert cluster["name"] == "mlops"
    services = {s["name"]: s for s in prod_plan.values("aws_ecs_service")}
    assert set(services) == {"mlops-api", "mlops-ui"}
    for name, port in (("mlops-api", 8000), ("mlops-ui", 8501)):
        service = services[name]
        assert service["launch_type"] == "FARGATE"
        assert service["platform_version"] == "LATEST"
        assert service["network_configuration"][0]["assign_public_ip"] is False
        assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}], name
        assert service["deployment_minimum_healthy_percent"] == 100
        assert service["load_balancer"][0]["container_port"] == port
        call = _module_call(prod_plan, name.removeprefix("mlops-"))
        assert call["subnet_ids"]["references"][0] == "module.network.private_subnet_ids"
    definitions = {t["family"]: t for t in prod_plan.values("aws_ecs_task_definition")}
    assert set(definitions) == {"mlops-api", "mlops-ui", "mlops-migrate"}
    for definition in definitions.values():
        assert definition["requires_compatibilities"] == ["FARGATE"]
        assert definition["network_mode"] == "awsvpc"
    assert (definitions["mlops-api"]["cpu"], definitions["mlops-api"]["memory"]) == ("512", "1024")
    assert (definitions["mlops-ui"]["cpu"], definitions["mlops-ui"]["memory"]) == ("256", "512")
    # the dashboard's containers are known at plan time (the API's wait for the database's address)
    (ui,) = json.loads(definitions["mlops-ui"]["container_definitions"])
    assert ui["image"].endswith("/mlops-ui:0123456789abcdef0123456789abcdef01234567")
    assert ui["readonlyRootFilesystem"] is True
    assert ui["portMappings"][0]["containerPort"] == 8501
    assert ui["logConfiguration"]["options"]["awslogs-group"] == "/ecs/mlops-ui"
    assert ui["environment"] == [{"name": "API_URL", "value": "http://api:8000"}]  # Service Connect
    assert "secrets" not in ui or ui["secrets"] == []  # the dashboard holds no key


def test_auto_scaling_on_cpu_and_requests(prod_plan: ProdPlan) -> None:
    targets = {t["resource_id"]: t for t in prod_plan.values("aws_appautoscaling_target")}
    assert {k: (t["min_capacity"], t["max_capacity"]) for k, t in targets.items()} == {
        "service/mlops/mlops-api": (1, 5),
        "service/mlops/mlops-ui": (1, 3),
    }
    policies = {p["name"]: p for p in prod_plan.values("aws_appautoscaling_policy")}
    assert set(policies) == {"mlops-api-cpu", "mlops-api-requests", "mlops-ui-cpu", "mlops-ui-requests"}
    for name, policy in policies.items():
        assert policy["policy_type"] == "TargetTrackingScaling"
        (config,) = policy["target_tracking_scaling_policy_configuration"]
        (metric,) = config["predefined_metric_specification"]
        expected = "ECSServiceAverageCPUUtilization" if name.endswith("-cpu") else "ALBRequestCountPerTarget"
        assert metric["predefined_metric_type"] == expected
    requests = _module_call(prod_plan, "api")["request_count_resource_label"]["references"]
    assert "module.alb.arn_suffix" in requests
    assert 'module.alb.target_group_arn_suffixes["api"]' in requests


def test_load_balancer_https_only_with_tls_1_2_and_up(
    prod_plan: ProdPlan, plan_inputs: dict[str, str]
) -> None:
    (lb,) = prod_plan.values("aws_lb")
    assert lb["load_balancer_type"] == "application"
    assert lb["internal"] is False
    assert lb["drop_invalid_header_fields"] is True
    assert lb["enable_deletion_protection"] is True
    assert _module_call(prod_plan, "alb")["subnet_ids"]["references"][0] == "module.network.public_subnet_ids"
    listeners = {listener["port"]: listener for listener in prod_plan.values("aws_lb_listener")}
    assert set(listeners) == {80, 443}
    (redirect,) = listeners[80]["default_action"]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"][0]["protocol"] == "HTTPS"
    assert redirect["redirect"][0]["status_code"] == "HTTP_301"
    https = listeners[443]
    assert https["protocol"] == "HTTPS"
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificate_arn"] == plan_inputs["certificate_arn"]
    groups = {g["name"]: g for g in prod_plan.values("aws_lb_target_group")}
    assert groups["mlops-api"]["health_check"][0]["path"] == "/health"
    assert groups["mlops-ui"]["health_check"][0]["path"] == "/_stcore/health"
    assert {g["target_type"] for g in groups.values()} == {"ip"}  # Fargate's awsvpc tasks


def test_people_sign_in_through_oidc_before_the_dashboard(
    prod_plan: ProdPlan, plan_inputs: dict[str, str]
) -> None:
    (https,) = [listener for listener in prod_plan.values("aws_lb_listener") if listener["port"] == 443]
    authenticate, forward = sorted(https["default_action"], key=lambda a: a["order"])
    assert authenticate["type"] == "authenticate-oidc"
    (oidc,) = authenticate["authenticate_oidc"]
    assert oidc["issuer"] == plan_inputs["oidc_issuer"]
    assert oidc["authorization_endpoint"] == plan_inputs["oidc_authorization_endpoint"]
    assert oidc["token_endpoint"] == plan_inputs["oidc_token_endpoint"]
    assert oidc["user_info_endpoint"] == plan_inputs["oidc_user_info_endpoint"]
    assert oidc["client_id"] == plan_inputs["oidc_client_id"]
    assert (
        oidc["client_secret"] == plan_inputs["oidc_client_secret"]
    )  # read from Secrets Manager, not a variable
    assert oidc["on_unauthenticated_request"] == "authenticate"
    assert forward["type"] == "forward"
    config = _alb_resource(prod_plan, "aws_lb_listener.https")["default_action"]
    assert config[1]["target_group_arn"]["references"][0] == "aws_lb_target_group.ui.arn"


def test_listener_rules_metrics_hidden_api_keys_skip_sign_in(prod_plan: ProdPlan) -> None:
    from mlops_api.auth.deps import api_key_header

    rules = {rule["priority"]: rule for rule in prod_plan.values("aws_lb_listener_rule")}
    assert sorted(rules) == [1, 10, 15, 20]
    # first: /metrics never leaves the VPC (the ADOT collector scrapes it inside the task)
    metrics = rules[1]
    assert metrics["condition"][0]["path_pattern"][0]["values"] == ["/metrics", "/metrics/*"]
    (answer,) = metrics["action"]
    assert answer["type"] == "fixed-response"
    assert answer["fixed_response"][0]["status_code"] == "404"
    # the Teams approval links: sign-in, then the API
    links = rules[10]
    assert links["condition"][0]["path_pattern"][0]["values"] == ["/runs/*/approval-links/*"]
    assert [a["type"] for a in sorted(links["action"], key=lambda a: a["order"])] == [
        "authenticate-oidc",
        "forward",
    ]
    # a person's script (the SDK's signed-in session): the session checked, a 401 rather than a
    # redirect when it is not, then the API
    from mlops_client.credentials import SIGNED_IN_HEADER

    scripts = rules[15]
    (header,) = scripts["condition"][0]["http_header"]
    assert header == {"http_header_name": SIGNED_IN_HEADER, "values": ["*"]}
    sign_in, forward = sorted(scripts["action"], key=lambda a: a["order"])
    assert sign_in["authenticate_oidc"][0]["on_unauthenticated_request"] == "deny"
    assert forward["type"] == "forward"
    # a request carrying an API key, in the header the API reads, goes to the API without sign-in
    keyed = rules[20]
    (header,) = keyed["condition"][0]["http_header"]
    assert header == {"http_header_name": api_key_header.model.name, "values": ["*"]}
    assert [a["type"] for a in keyed["action"]] == ["forward"]
    for address, action in (
        ("aws_lb_listener_rule.api_key", 0),
        ("aws_lb_listener_rule.signed_in_api", 1),
        ("aws_lb_listener_rule.signed_in_api_client", 1),
    ):
        forward = _alb_resource(prod_plan, address)["action"][action]
        assert forward["target_group_arn"]["references"][0] == "aws_lb_target_group.api.arn", address


def test_the_api_task_configuration(prod_plan: ProdPlan) -> None:
    # The environment is unknown until apply (the database's address): check the configuration.
    api = _module_call(prod_plan, "api")
    assert api["environment"]["references"] == ["local.api_environment"]
    assert api["secrets"]["references"] == ["local.api_secrets"]
    compute = TERRAFORM / "envs/prod/compute.tf"
    environment = dict(
        re.findall(
            r"^\s+([A-Z_]+)\s+=\s+(.+?)(?:\s+#.*)?$", _hcl_block(compute, "  api_environment = {"), re.M
        )
    )
    assert {"DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_SECRET_ARN"} <= set(environment)
    assert "DATABASE_URL" not in environment
    assert "MIGRATE_ON_START" not in environment  # the one-off migration task does it before each update
    # the signed identity header: the load balancer is the signer the API expects
    assert environment["OIDC_ALB_ARN"] == "module.alb.arn"
    assert environment["AWS_REGION"] == "var.region"  # the region of ELB's public-key endpoint
    assert environment["OIDC_ROLE_GROUPS"] == "jsonencode(var.oidc_role_groups)"
    assert "OIDC_DEV_COOKIE" not in environment  # development only
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == '"http://127.0.0.1:4318"'  # the ADOT sidecar
    assert environment["METRICS_LOOPBACK_ONLY"] == '"true"'  # only the sidecar reads /metrics
    secrets = dict(re.findall(r"^\s+([A-Z_]+)\s+=\s+(.+)$", _hcl_block(compute, "  api_secrets = {"), re.M))
    assert secrets == {"APPROVAL_SIGNING_KEY": 'local.secret_arns["approval-signing-key"]'}
    assert api["sidecars"]["references"][:2] == ["var.adot_collector_image", "local.adot_config"]


def test_the_migration_task_runs_the_api_image(prod_plan: ProdPlan) -> None:
    (migrate,) = [t for t in prod_plan.values("aws_ecs_task_definition") if t["family"] == "mlops-migrate"]
    assert migrate["requires_compatibilities"] == ["FARGATE"]
    block = _hcl_block(TERRAFORM / "envs/prod/compute.tf", 'resource "aws_ecs_task_definition" "migrate" {')
    assert 'image                  = local.image_uri["api"]' in block
    assert 'command                = ["migrate"]' in block
    assert "DATABASE_SECRET_ARN = module.database.master_user_secret_arn" in block
    outputs = prod_plan.plan["configuration"]["root_module"]["outputs"]
    assert {"ecs_cluster_name", "migrate_task_definition", "migrate_network_configuration"} <= set(outputs)


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
    "mlops-deployer": ("deployments", "deployer"),
}


def test_lambda_functions(prod_plan: ProdPlan) -> None:
    functions = {f["function_name"]: f for f in prod_plan.values("aws_lambda_function")}
    # the completion functions of the SageMaker jobs (training; evaluation, evaluation_job.tf)
    assert set(functions) == {*LAMBDAS, "mlops-training-completion", "mlops-evaluation-completion"}
    handlers = prod_plan.plan["planned_values"]["outputs"]["lambda_handlers"]["value"]
    assert set(handlers) == set(functions)
    for name, fn in functions.items():
        assert fn["package_type"] == "Image"
        config = fn["image_config"][0]
        assert config["entry_point"] == ["python", "-m", "awslambdaric"], name
        # every function runs the tracing entry, which calls its own handler (ORIG_HANDLER)
        assert config["command"] == ["mlops_sqs_runtime.lambda_entry.handler"], name
        assert _handler_exists(handlers[name]), (
            f"{name}: {handlers[name]} is not a function of the workers' code"
        )
        assert fn["tracing_config"][0]["mode"] == "Active"
    assert "\nhandler = " in (ROOT / "runtime/src/mlops_sqs_runtime/lambda_entry.py").read_text()
    # the environment the entry reads (the one function whose environment is known at plan; the
    # module sets it the same way for all)
    assert functions["mlops-evaluation-completion"]["environment"][0]["variables"] == {
        "ORIG_HANDLER": "mlops_evaluation.handler.completion_handler",
        "OTEL_TRACES_ENABLED": "true",  # spans to the X-Ray daemon that Active tracing runs
        "OTEL_SERVICE_NAME": "mlops-evaluation-completion",
    }
    assert functions["mlops-eval"]["reserved_concurrent_executions"] == 2
    assert functions["mlops-eval"]["timeout"] == 900
    assert handlers["mlops-training-completion"] == "mlops_training.dispatch.handler.completion_handler"
    for name, (mapping, image) in LAMBDAS.items():
        assert functions[name]["image_uri"].split("/")[-1].startswith(f"mlops-{image}:"), name
        assert handlers[name] == MAPPINGS[mapping]["handler"].replace(":", "."), name


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
    assert len(dlqs) == 8  # seven work queues' DLQs (deployments too) and the bus's delivery DLQ
    assert alarms["mlops-workflow-failed"]["metric_name"] == "ExecutionsFailed"
    assert alarms["mlops-lambda-duration-mlops-eval"]["threshold"] == 800000
    completions = ["mlops-training-completion", "mlops-evaluation-completion"]
    assert {f"mlops-lambda-errors-{name}" for name in [*LAMBDAS, *completions]} <= set(alarms)
    assert {
        "mlops-target-5xx-api",
        "mlops-target-5xx-ui",
        "mlops-no-healthy-api",
        "mlops-no-healthy-ui",
    } <= set(alarms)
    # every model endpoint's 5XX invocation errors (#20), whatever the endpoints' names
    endpoint_errors = alarms["mlops-endpoint-invocation-errors"]
    assert "SUM(Invocation5XXErrors)" in endpoint_errors["metric_query"][0]["expression"]
    assert (
        'SCHEMA("AWS/SageMaker", EndpointName, VariantName)'
        in endpoint_errors["metric_query"][0]["expression"]
    )
    mlscore = alarms["mlops-mlscore-degraded"]
    assert mlscore["threshold"] == 0.5
    assert mlscore["comparison_operator"] == "LessThanThreshold"
    assert "AVG(MLScore)" in mlscore["metric_query"][0]["expression"]
    (dashboard,) = prod_plan.values("aws_cloudwatch_dashboard")
    assert dashboard["dashboard_name"] == "mlops-operations"
    machines = prod_plan.values("aws_sfn_state_machine")
    # the release workflow and the one that stops a run's training jobs when it ends early
    assert sorted(m["name"] for m in machines) == ["mlops-release-workflow", "mlops-stop-training-jobs"]
    for machine in machines:
        assert machine["tracing_configuration"][0]["enabled"] is True, machine["name"]


def test_state_machine_renders_the_same_template(prod_plan: ProdPlan) -> None:
    """docs/decisions/0002-one-asl-template.md: envs/local and envs/prod render the one ASL template."""
    names = [m["name"] for m in prod_plan.values("aws_sfn_state_machine")]
    assert "mlops-release-workflow" in names
    line = 'definition_template_path = "${path.module}/../../templates/release_workflow.asl.json"'
    core = TERRAFORM / "modules" / "platform_core" / "main.tf"
    assert line in " ".join(core.read_text().split())
    # both environments render it through modules/platform_core, and neither through a copy of its own
    for env in ("local", "prod"):
        main = " ".join((TERRAFORM / "envs" / env / "main.tf").read_text().split())
        assert 'source = "../../modules/platform_core"' in main, env
        assert 'source = "../../modules/orchestration"' not in main, env


def _adot_config() -> dict[str, Any]:
    """terraform/templates/adot_collector.yaml as envs/prod renders it (its templatefile variables)."""
    import yaml

    text = (TERRAFORM / "templates" / "adot_collector.yaml").read_text()
    for name, value in {
        "region": "eu-west-1",
        "namespace": "MLOps",
        "log_group_name": "/ecs/mlops-api/metrics",
        "api_port": "8000",
    }.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, "a templatefile variable of the ADOT configuration is not given by envs/prod"
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def test_the_adot_collector_feeds_the_outbox_alarms(prod_plan: ProdPlan) -> None:
    """The sidecar scrapes what the API exposes, under the names and dimensions the alarms watch."""
    from mlops_api.ops.metrics import ApiMetrics

    config = _adot_config()
    (scrape,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"] == [{"targets": ["127.0.0.1:8000"]}]  # inside the task
    emf = config["exporters"]["awsemf"]
    assert emf["namespace"] == "MLOps"
    (outbox,) = [d for d in emf["metric_declarations"] if d["dimensions"] == [["job"]]]
    exposed = {metric.name for metric in ApiMetrics().registry.collect()}
    selected = {selector.strip("^$") for selector in outbox["metric_name_selectors"]}
    assert selected == {"mlops_outbox_backlog", "mlops_outbox_oldest_age_seconds"}
    assert selected <= exposed, f"the API exposes no {sorted(selected - exposed)}"
    alarms = {a["alarm_name"]: a for a in prod_plan.values("aws_cloudwatch_metric_alarm")}
    for name, metric in (
        ("mlops-outbox-backlog", "mlops_outbox_backlog"),
        ("mlops-outbox-oldest-age", "mlops_outbox_oldest_age_seconds"),
    ):
        alarm = alarms[name]
        assert (alarm["namespace"], alarm["metric_name"]) == ("MLOps", metric)
        assert alarm["dimensions"] == {"job": scrape["job_name"]}  # the scrape's job label
        assert alarm["statistic"] == "Maximum"  # every task reports the same database-wide figure
    # the EMF lines go to the log group Terraform creates and the task role may write
    groups = {g["name"] for g in prod_plan.values("aws_cloudwatch_log_group")}
    assert emf["log_group_name"] in groups
    # traces: the API's OTLP exporter -> the collector's receiver -> X-Ray
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "127.0.0.1:4318"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["awsxray"]
    assert config["service"]["pipelines"]["metrics"]["receivers"] == ["prometheus"]


def test_the_deploy_targets_of_the_migration_exist(prod_plan: ProdPlan) -> None:
    """scripts/deploy.sh applies these before running the migration: each names something envs/prod
    declares (a typo would make the targeted apply silently create nothing)."""
    script = (ROOT / "scripts" / "deploy.sh").read_text()
    block = script.split("migration_targets=(", 1)[1].split(")", 1)[0]
    targets = re.findall(r"-target=(\S+)", block)
    assert targets
    addresses = [r["address"] for r in prod_plan.all]
    for target in targets:
        assert any(a == target or a.startswith((target + ".", target + "[")) for a in addresses), target
    assert not any(".aws_ecs_service." in t or t.startswith("aws_ecs_service") for t in targets)

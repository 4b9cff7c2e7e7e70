"""docker-compose.yml, checked without a Docker engine: Docker Compose v2 validates and
resolves it (`config`), then these tests check what Compose cannot know - the build inputs exist,
the ports stay on loopback, the start order, and that every service gets every variable it reads,
from its own `environment` or from Terraform's outputs (envs/local output `service_env`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops_sqs_runtime.runner import build_parser, load_mappings

pytestmark = pytest.mark.integration  # the Docker Compose binary reads the file

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
Dockerfile = Any  # conftest.Dockerfile (conftest is not importable by name)

SERVICES = {
    "emulator",
    "localstack",
    "postgres",
    "terraform",
    "stack-env",
    "api",
    "ui",
    "serving",
    "training",
    "evaluation",
    "approval",
    "notifications",
    "projector",
    "claims",
}
ONE_SHOTS = {"terraform", "stack-env"}
# The AWS endpoints: our emulator (the default) and LocalStack (profile `localstack`). Both are in
# memory: neither restarts (it would come back empty under Terraform's resources).
ENDPOINTS = {"emulator", "localstack"}
WORKERS = {"training", "evaluation", "approval", "notifications", "projector", "claims"}
# Mappings compose runs no container for, each with its reason (the README's Docker section says so).
NOT_IN_COMPOSE = {
    "deployments": "the deployer image is the Lambda's (SERVING_BACKEND=sagemaker); the local serving "
    "process needs the serving package, which make dev has",
}
STACK_ENV = "/stack/stack.env"
WORKER_ENV = "/stack/worker.env"

AWS = {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# What each component reads from its environment beyond the AWS set and its runner mapping's queue
# URL (settings classes and os.environ reads of each package; an empty default that fails at use
# counts as needed).
NEEDS: dict[str, set[str]] = {
    "api": AWS | {"DATABASE_URL", "DATASETS_BUCKET", "EVENT_BUS_NAME"},
    "ui": {"API_URL"},
    "training": AWS | {"TRAINING_BACKEND", "MODEL_OUTPUTS_BUCKET"},
    "evaluation": AWS | {"JUDGE", "API_URL", "API_KEY", "MODEL_OUTPUTS_BUCKET"},
    "approval": AWS | {"API_URL", "API_KEY", "NOTIFICATIONS_TOPIC_ARN"},
    "notifications": AWS | {"DASHBOARD_URL"},
    "projector": AWS | {"API_URL", "API_KEY"},
    "claims": AWS | {"API_URL", "API_KEY"},
}


def _block(text: str, header: str) -> str:
    """The body of the HCL block or map whose line starts with `header` (brace matching)."""
    match = re.search(rf"^\s*{re.escape(header)}\s*=?\s*\{{", text, re.MULTILINE)
    assert match, f"no `{header}` block"
    depth, i = 0, match.end() - 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    raise AssertionError(f"unbalanced block {header}")


def terraform_service_env_names() -> set[str]:
    """The variable names of terraform/envs/local's `service_env` output: its literal keys, plus the
    `<KEY>_QUEUE_URL`-style names generated over the messaging module's queues."""
    outputs = (REPO / "terraform/envs/local/outputs.tf").read_text()
    body = _block(outputs, 'output "service_env"')
    names = set(re.findall(r"^\s*([A-Z][A-Z0-9_]+)\s*=", body, re.MULTILINE))
    generated = re.findall(
        r'for key, \w+ in module\.platform_core\.(\w+)\s*:\s*"\$\{upper\(key\)\}(_[A-Z_]+)"', body
    )
    assert names, "service_env has no literal keys: update terraform_service_env_names()"
    assert generated, "service_env generates no queue variables: update terraform_service_env_names()"
    core_main = (REPO / "terraform/modules/platform_core/main.tf").read_text()
    assert "queues" not in _block(core_main, 'module "messaging"'), "platform_core overrides the queues"
    variables = (REPO / "terraform/modules/messaging/variables.tf").read_text()
    default = _block(_block(variables, 'variable "queues"'), "default")
    queue_keys = re.findall(r"^\s*(\w+)\s*=\s*\{", default, re.MULTILINE)
    assert queue_keys, "no queue keys found in the messaging module's default"
    names |= {key.upper() + suffix for _, suffix in generated for key in queue_keys}
    return names


def terraform_variables() -> dict[str, bool]:
    """Variables of terraform/envs/local -> whether they have a default."""
    text = (REPO / "terraform/envs/local/variables.tf").read_text()
    return {
        name: "default" in _block(text, f'variable "{name}"')
        for name in re.findall(r'^variable "(\w+)"', text, re.MULTILINE)
    }


def command_text(service: dict[str, Any]) -> str:
    return " ".join([*(service.get("entrypoint") or []), *(service.get("command") or [])])


def effective_argv(service: dict[str, Any], dockerfiles: dict[str, Dockerfile]) -> list[str]:
    """ENTRYPOINT + CMD as the container runs them (compose overrides, else the Dockerfile's)."""
    dockerfile = dockerfiles[service["build"]["dockerfile"]]
    entrypoint = service.get("entrypoint") or dockerfile.exec_form("ENTRYPOINT")
    command = service.get("command")
    if command is None:
        command = dockerfile.exec_form("CMD") if not service.get("entrypoint") else []
    return [*entrypoint, *command]


def runner_mappings(argv: list[str]) -> list[str]:
    assert argv[:3] == ["python", "-m", "mlops_sqs_runtime.runner"], f"not the runner: {argv}"
    args = build_parser().parse_args(argv[3:])  # the runner's own CLI accepts the command line
    return list(args.mapping or [])


def provided(service: dict[str, Any], name: str) -> set[str]:
    env = set(service.get("environment") or {})
    text = command_text(service)
    mounts = {v["target"]: v for v in service.get("volumes", [])}
    if STACK_ENV in text:
        assert "/stack" in mounts, f"{name} reads {STACK_ENV} without the stack volume"
        env |= terraform_service_env_names()
    if WORKER_ENV in text:
        env.add("API_KEY")
    return env


# -- the file ------------------------------------------------------------------------------------
def test_compose_declares_every_part(compose_config: dict[str, Any]) -> None:
    assert set(compose_config["services"]) == SERVICES


def test_images_are_pinned(compose_config: dict[str, Any]) -> None:
    for name, service in compose_config["services"].items():
        if "build" in service:
            assert service["image"].endswith(":local"), f"{name}: a built image is tagged :local"
            continue
        image = service["image"]
        assert re.search(r":\d+(\.\d+)+(-[a-z0-9.]+)*$", image), f"{name}: {image} is not pinned to a version"


def test_builds_use_the_repository_root_and_existing_dockerfiles(
    compose_config: dict[str, Any], dockerfiles: dict[str, Dockerfile]
) -> None:
    built = {}
    for name, service in compose_config["services"].items():
        if "build" not in service:
            continue
        assert Path(service["build"]["context"]) == REPO, f"{name}: build context is not the repo root"
        dockerfile = service["build"]["dockerfile"]
        assert (REPO / dockerfile).is_file(), f"{name}: {dockerfile} does not exist"
        built[name] = dockerfile
    # every image of the platform is built by the compose file
    assert set(built.values()) == set(dockerfiles)


def test_ports_are_bound_to_loopback_only(compose_config: dict[str, Any]) -> None:
    published = []
    for name, service in compose_config["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name}: port {port} is not bound to 127.0.0.1"
            published.append(name)
    assert {"emulator", "localstack", "postgres", "api", "ui"} <= set(published)


def test_healthchecks_and_start_order(
    compose_config: dict[str, Any], dockerfiles: dict[str, Dockerfile]
) -> None:
    services = compose_config["services"]
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service.get("restart") in (None, "no"), f"{name} is a one-shot"
            continue
        has_check = "healthcheck" in service or (
            "build" in service and dockerfiles[service["build"]["dockerfile"]].final.all("HEALTHCHECK")
        )
        assert has_check, f"{name} has no healthcheck (compose or Dockerfile)"
        if name in ENDPOINTS:  # an endpoint would come back empty
            assert service.get("restart") in (None, "no"), f"{name} restarts empty"
        elif "build" in service:  # our services come back
            assert service.get("restart") == "unless-stopped", f"{name} is not restarted"
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dependency}: {spec['condition']}"
            # only LocalStack may be absent: it is the one service of a profile
            assert spec.get("required", True) is (dependency != "localstack"), f"{name} -> {dependency}"
    # the chain: AWS endpoint -> terraform -> env file -> api -> workers and ui
    assert set(services["terraform"]["depends_on"]) == ENDPOINTS
    assert set(services["stack-env"]["depends_on"]) == {"terraform"}
    assert set(services["api"]["depends_on"]) == {"postgres", "stack-env"}
    for name in WORKERS:
        assert set(services[name]["depends_on"]) == {"stack-env", "api"}, name
    assert set(services["ui"]["depends_on"]) == {"api"}


# -- Terraform -------------------------------------------------------------------------------------
def test_terraform_gets_every_required_variable_of_envs_local(compose_config: dict[str, Any]) -> None:
    service = compose_config["services"]["terraform"]
    given = {k.removeprefix("TF_VAR_") for k in service["environment"] if k.startswith("TF_VAR_")}
    variables = terraform_variables()
    assert given <= set(variables), f"unknown Terraform variables: {given - set(variables)}"
    required = {name for name, has_default in variables.items() if not has_default}
    assert required <= given, f"Terraform variables not given: {required - given}"
    assert service["environment"]["TF_VAR_emulator_endpoint"] == "http://emulator:4566"
    script = command_text(service)
    assert "terraform/envs/local" in script.replace("/tmp/tf/envs/local", "terraform/envs/local")
    assert "/src/terraform" in {v["target"] for v in service["volumes"]}
    assert all(v["read_only"] for v in service["volumes"] if v["target"] == "/src/terraform")


def test_the_env_file_is_made_from_terraforms_service_env_output(compose_config: dict[str, Any]) -> None:
    script = command_text(compose_config["services"]["stack-env"])
    assert '["service_env"]' in script
    assert STACK_ENV in script
    assert "terraform output" in command_text(compose_config["services"]["terraform"])
    # the names the workers' queue URLs have in Terraform's outputs
    names = terraform_service_env_names()
    assert {"TRAINING_QUEUE_URL", "EVALUATION_QUEUE_URL", "RUN_EVENTS_QUEUE_URL"} <= names


# -- what each service runs and reads ------------------------------------------------------------
def test_api_runs_migrations_before_serving(compose_config: dict[str, Any]) -> None:
    script = command_text(compose_config["services"]["api"])
    assert script.index("mlops-api migrate") < script.index("mlops-api serve")
    assert script.index(STACK_ENV) < script.index("mlops-api migrate")
    # each worker's own key is written where they read it, once, by its role's variable
    assert WORKER_ENV in script
    assert re.search(r'--role "\$+role"', script)  # $$ in the file, $ once compose reads it
    assert "for role in projector evaluator approval-worker trainer" in script
    assert "--role service" not in script


def test_workers_run_enabled_mappings_of_the_local_runner(
    compose_config: dict[str, Any], dockerfiles: dict[str, Dockerfile]
) -> None:
    mappings = load_mappings()
    ran = {}
    for name in WORKERS:
        argv = effective_argv(compose_config["services"][name], dockerfiles)
        names = runner_mappings(argv)
        assert names, f"{name} runs no mapping"
        for mapping in names:
            assert mapping in mappings, f"{name}: unknown mapping {mapping}"
            assert mappings[mapping].enabled, f"{name}: mapping {mapping} is disabled"
        ran[name] = names
    # every enabled mapping has a container, but the ones compose leaves out on purpose
    assert sorted(m for names in ran.values() for m in names) == sorted(
        m.name for m in mappings.values() if m.enabled and m.name not in NOT_IN_COMPOSE
    )


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_every_variable_a_service_reads_is_provided(
    name: str, compose_config: dict[str, Any], dockerfiles: dict[str, Dockerfile]
) -> None:
    service = compose_config["services"][name]
    needs = set(NEEDS[name])
    if name in WORKERS:
        mappings = load_mappings()
        for mapping in runner_mappings(effective_argv(service, dockerfiles)):
            queue_env = mappings[mapping].queue_url_env
            assert queue_env is not None
            needs.add(queue_env)
    missing = needs - provided(service, name)
    assert not missing, f"{name} does not get {sorted(missing)}"


def test_services_reach_each_other_by_service_name(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            for host in re.findall(r"https?://([a-z0-9-]+):\d+", str(value)):
                if host in ("127.0.0.1", "localhost"):
                    assert key in ("PUBLIC_API_URL", "DASHBOARD_URL"), f"{name}: {key}={value} is a host URL"
                else:
                    assert host in services, f"{name}: {key} points at unknown service {host}"
    url = services["api"]["environment"]["DATABASE_URL"]
    assert "@postgres:5432/" in url


def test_compose_validates_the_file_without_an_engine(compose_binary: Path) -> None:
    """`config --quiet`: Compose's own validation (schema, references, interpolation); it fails on a
    broken file, which is what the fixture-based tests above build on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    result = subprocess.run(
        [str(compose_binary), "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    broken = COMPOSE_FILE.read_text().replace("condition: service_healthy", "condition: healthy-ish", 1)
    result = subprocess.run(
        [str(compose_binary), "-f", "-", "config", "--quiet"],
        cwd=REPO,
        env=env,
        input=broken,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "depends_on.api.condition" in result.stderr


# -- the two AWS endpoints -------------------------------------------------------------------------
def _resolved(compose_binary: Path, *args: str, **env: str) -> dict[str, Any]:
    import json

    result = subprocess.run(
        [str(compose_binary), "-f", str(COMPOSE_FILE), *args, "config", "--format", "json"],
        cwd=REPO,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_", "AWS_"))},
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _endpoints(config: dict[str, Any]) -> set[str]:
    services = config["services"]
    urls = {
        s["environment"]["AWS_ENDPOINT_URL"]
        for s in services.values()
        if "AWS_ENDPOINT_URL" in (s.get("environment") or {})
    }
    return urls | {services["terraform"]["environment"]["TF_VAR_emulator_endpoint"]}


def test_the_default_profile_runs_our_emulator_as_aws(
    compose_binary: Path, dockerfiles: dict[str, Dockerfile]
) -> None:
    config = _resolved(compose_binary)
    assert "localstack" not in config["services"]
    assert _endpoints(config) == {"http://emulator:4566"}
    emulator = config["services"]["emulator"]
    assert emulator["build"]["dockerfile"] == "devstack/emulator/Dockerfile"
    argv = dockerfiles["devstack/emulator/Dockerfile"].exec_form("ENTRYPOINT")
    assert argv[:3] == ["python", "-m", "mlops_devstack.emulator"]  # moto + the extension, always strict
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (reachable from the other containers)
    assert argv[argv.index("--port") + 1] == "4566"


def test_the_localstack_profile_runs_licensed_localstack_with_sagemaker(compose_binary: Path) -> None:
    config = _resolved(
        compose_binary,
        "--profile",
        "localstack",
        AWS_ENDPOINT_HOST="localstack",
        LOCALSTACK_AUTH_TOKEN="ls-test",
    )
    assert _endpoints(config) == {"http://localstack:4566"}
    localstack = config["services"]["localstack"]
    # the community image has no SageMaker, and current images need a licence
    assert localstack["image"].startswith("localstack/localstack-pro:")
    assert "sagemaker" in localstack["environment"]["SERVICES"].split(",")
    assert localstack["environment"]["LOCALSTACK_AUTH_TOKEN"] == "ls-test"
    # the same Terraform in both profiles
    assert command_text(config["services"]["terraform"]) == command_text(
        _resolved(compose_binary)["services"]["terraform"]
    )

"""The Terraform driver of the local stack: `terraform/envs/local` applied to the AWS emulator.

Terraform is the only place AWS resources are declared (docs/decisions/0003-terraform-single-source.md);
this module only runs it:

- finds `terraform` (TERRAFORM_BIN, else PATH) and a filesystem mirror of the hashicorp/aws provider
  (TF_PROVIDER_MIRROR, else a few well-known places), and writes a CLI configuration under
  `.local/terraform/` that installs the provider from that mirror only (no registry is reachable);
- keeps each stack's state in its own directory (`.local/terraform/<name>/` or a temp dir), with its own
  `.terraform` data dir: `init` links the provider from the mirror, so re-inits take about a second;
- the emulator is in memory, so a state whose resources are gone from the emulator is stale: it is
  discarded (with a message) before the apply;
- returns the `service_env` output (KEY => value, what the services read from their environment) and
  writes it as an env file (`.local/stack.env` for `make dev`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_devstack import envfile
from mlops_devstack.emulator import FAKE_CREDENTIALS
from mlops_devstack.paths import local_dir, repo_root

PROVIDER_SOURCE = "registry.terraform.io/hashicorp/aws"
MIRROR_ENV = "TF_PROVIDER_MIRROR"
TERRAFORM_ENV = "TERRAFORM_BIN"


def default_mirror_candidates() -> list[Path]:
    return [
        Path("/opt/tf-plugins"),
        Path.home() / ".terraform.d" / "plugins",
        Path("/usr/share/terraform/plugins"),
        Path("/usr/local/share/terraform/plugins"),
    ]


class TerraformError(RuntimeError):
    """Terraform could not provision the stack; the message says why and what to do."""


class TerraformNotFound(TerraformError):
    pass


class ProviderNotFound(TerraformError):
    pass


class StaleState(TerraformError):
    pass


def find_terraform() -> Path:
    configured = os.environ.get(TERRAFORM_ENV)
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise TerraformNotFound(f"{TERRAFORM_ENV}={configured} is not an executable file")
    found = shutil.which("terraform")
    if found is None:
        raise TerraformNotFound(
            "Terraform is not installed (no `terraform` on PATH). Install Terraform >= 1.5 "
            f"(a single binary, e.g. from your package manager) or point {TERRAFORM_ENV} at it."
        )
    return Path(found)


def _has_provider(mirror: Path) -> bool:
    provider_dir = mirror / PROVIDER_SOURCE
    return provider_dir.is_dir() and any(provider_dir.glob("*/*/terraform-provider-aws*"))


def find_provider_mirror(candidates: list[Path] | None = None) -> Path:
    """A directory laid out as a Terraform filesystem mirror that holds hashicorp/aws."""
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        mirror = Path(configured).expanduser()
        if _has_provider(mirror):
            return mirror
        raise ProviderNotFound(
            f"{MIRROR_ENV}={configured} holds no hashicorp/aws provider: expected "
            f"{mirror / PROVIDER_SOURCE}/<version>/<os_arch>/terraform-provider-aws_*"
        )
    searched = candidates if candidates is not None else default_mirror_candidates()
    for mirror in searched:
        if _has_provider(mirror):
            return mirror
    raise ProviderNotFound(
        "the Terraform provider hashicorp/aws was not found, and no registry can be reached to download "
        f"it. Put a filesystem mirror of it (<mirror>/{PROVIDER_SOURCE}/<version>/<os_arch>/...) in "
        f"one of {', '.join(str(p) for p in searched)} or set {MIRROR_ENV} to its directory "
        "(`terraform providers mirror DIR` makes one on a machine with internet)."
    )


def write_cli_config(mirror: Path, directory: Path) -> Path:
    """A Terraform CLI configuration that installs hashicorp/aws from `mirror` and nothing from the
    network (used through TF_CLI_CONFIG_FILE)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "terraformrc"
    text = (
        "# Written by mlops_devstack.terraform: providers come from a local filesystem mirror only.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        f'    include = ["{PROVIDER_SOURCE}"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@dataclass
class ApplyProgress:
    """What the apply reports while it runs (parsed from `terraform apply -json`)."""

    planned: int = 0
    done: int = 0
    current: list[str] = field(default_factory=list)


ProgressCallback = Callable[[ApplyProgress], None]


@dataclass
class LocalStack:
    """`terraform/envs/local` with its state in `state_dir`."""

    state_dir: Path
    config_dir: Path = field(default_factory=lambda: repo_root() / "terraform" / "envs" / "local")
    mirror: Path | None = None
    terraform: Path | None = None

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.terraform = self.terraform or find_terraform()
        self.mirror = self.mirror or find_provider_mirror()
        self._cli_config = write_cli_config(self.mirror, local_dir() / "terraform")

    @property
    def state_file(self) -> Path:
        return self.state_dir / "terraform.tfstate"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / ".terraform"

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "TF_")) or k in ("TF_LOG", "TF_LOG_PATH")
        }
        env.update(
            {
                "TF_CLI_CONFIG_FILE": str(self._cli_config),
                "TF_DATA_DIR": str(self.data_dir),
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
            }
        )
        return env

    def _run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.terraform), f"-chdir={self.config_dir}", *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- commands --------------------------------------------------------------------------------

    def init(self) -> None:
        """`terraform init` (about a second once the data dir exists: the provider is linked from the
        mirror). A data dir left by another Terraform or provider version is re-made once."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        result = self._init()
        if result.returncode != 0 and self.data_dir.exists():
            print(
                f"  (`terraform init` failed with the existing {self.data_dir}; re-making it)",
                file=sys.stderr,
                flush=True,
            )
            shutil.rmtree(self.data_dir)
            result = self._init()
        if result.returncode != 0:
            raise TerraformError(
                f"`terraform init` of {self.config_dir} failed:\n{_tail(result.stderr or result.stdout)}\n"
                f"If {self.data_dir} was made by another Terraform or provider version, remove it "
                "(`make clean` removes all of .local/)."
            )

    def _init(self) -> subprocess.CompletedProcess[str]:
        return self._run(
            "init",
            "-input=false",
            "-no-color",
            "-reconfigure",
            f"-backend-config=path={self.state_file}",
        )

    def validate(self) -> None:
        result = self._run("validate", "-no-color")
        if result.returncode != 0:
            raise TerraformError(f"`terraform validate` failed:\n{_tail(result.stderr or result.stdout)}")

    def reset_state(self) -> None:
        """Forget every resource: the next apply creates them all (for a new, empty emulator)."""
        for path in (self.state_file, self.state_file.with_name(self.state_file.name + ".backup")):
            path.unlink(missing_ok=True)

    def state_outputs(self) -> dict[str, Any] | None:
        """The outputs recorded in the state file, None when there is no usable state."""
        if not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
        except ValueError as exc:
            raise StaleState(
                f"the Terraform state {self.state_file} is unreadable ({exc}); remove it "
                "(`make clean` removes all of .local/)"
            ) from exc
        outputs = state.get("outputs") or {}
        return {name: out.get("value") for name, out in outputs.items()} or None

    def state_is_stale(self, endpoint: str, region: str) -> bool:
        """True when the state describes resources the emulator at `endpoint` does not hold (the
        emulator is in memory: a restarted one is empty)."""
        outputs = self.state_outputs()
        if outputs is None:
            return False
        arn = outputs.get("state_machine_arn")
        env = outputs.get("service_env") or {}
        if not arn or not str(env.get("EVENTS_DELIVERY_DLQ_URL", "")).startswith(endpoint):
            return True
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.session.Session().client(
            "stepfunctions",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        try:
            client.describe_state_machine(stateMachineArn=arn)
        except (ClientError, BotoCoreError):
            return True
        return False

    def apply(
        self,
        endpoint: str,
        region: str = "eu-west-1",
        *,
        fresh: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float = 600,
        variables: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Init, then apply envs/local to the emulator at `endpoint`; returns the service env.
        `variables` sets more of envs/local's input variables (e.g. a short approval timeout).

        `fresh=True` discards the state first (the emulator was just started, so it is empty).
        Without it, a state whose resources the emulator does not hold is discarded too."""
        self.init()
        if fresh:
            self.reset_state()
        elif self.state_is_stale(endpoint, region):
            print(
                f"  (discarding the Terraform state in {self.state_dir}: its resources are not in the "
                f"emulator at {endpoint}, which keeps everything in memory)",
                file=sys.stderr,
                flush=True,
            )
            self.reset_state()
        self._apply(endpoint, region, progress, timeout, variables or {})
        return self.service_env(endpoint, region)

    def _apply(
        self,
        endpoint: str,
        region: str,
        progress: ProgressCallback | None,
        timeout: float,
        variables: Mapping[str, str],
    ) -> None:
        command = [
            str(self.terraform),
            f"-chdir={self.config_dir}",
            "apply",
            "-auto-approve",
            "-input=false",
            "-json",
            f"-var=emulator_endpoint={endpoint}",
            f"-var=region={region}",
            *(f"-var={name}={value}" for name, value in sorted(variables.items())),
        ]
        state = ApplyProgress()
        errors: list[str] = []
        log: list[str] = []
        process = subprocess.Popen(
            command, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.rstrip("\n")
                log.append(line)
                _track(line, state, errors)
                if progress is not None:
                    progress(state)
            process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if timed_out.is_set():
            raise TerraformError(f"`terraform apply` did not finish within {timeout:.0f}s")
        if process.returncode != 0:
            details = "\n".join(errors) or _tail("\n".join(log))
            raise TerraformError(f"`terraform apply` of {self.config_dir} failed:\n{details}")

    def outputs(self) -> dict[str, Any]:
        result = self._run("output", "-json", "-no-color")
        if result.returncode != 0:
            raise TerraformError(f"`terraform output` failed:\n{_tail(result.stderr or result.stdout)}")
        raw: dict[str, Any] = json.loads(result.stdout or "{}")
        return {name: value.get("value") for name, value in raw.items()}

    def service_env(self, endpoint: str, region: str) -> dict[str, str]:
        """The services' environment: the `service_env` output plus the emulator's endpoint, region and
        fake credentials."""
        return _service_env(self.outputs().get("service_env"), endpoint, region)

    def service_env_from_state(self, endpoint: str, region: str) -> dict[str, str]:
        """As service_env, read from the state file itself (no `terraform output`, no init)."""
        return _service_env((self.state_outputs() or {}).get("service_env"), endpoint, region)

    def version(self) -> str:
        """`terraform version` (e.g. "1.11.4")."""
        result = subprocess.run(
            [str(self.terraform), "version", "-json"],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        try:
            return str(json.loads(result.stdout)["terraform_version"])
        except (ValueError, KeyError) as exc:
            raise TerraformError(
                f"`{self.terraform} version -json` did not answer as Terraform >= 1.5 does: "
                f"{_tail(result.stderr or result.stdout, 5)}"
            ) from exc

    def provider_binaries(self) -> list[Path]:
        """The hashicorp/aws binaries of the mirror (their path says the version and platform)."""
        assert self.mirror is not None
        return sorted((self.mirror / PROVIDER_SOURCE).glob("*/*/terraform-provider-aws*"))


def _service_env(service_env: Any, endpoint: str, region: str) -> dict[str, str]:
    if not isinstance(service_env, dict) or not service_env:
        raise TerraformError("the Terraform state has no `service_env` output: was envs/local applied?")
    env = {str(k): str(v) for k, v in service_env.items()}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **FAKE_CREDENTIALS,
        }
    )
    return dict(sorted(env.items()))


def write_env_file(env: Mapping[str, str], path: Path) -> Path:
    """KEY=VALUE lines, loadable by `set -a; . FILE` and by pydantic-settings' env_file."""
    header = (
        "Written by mlops_devstack from the outputs of terraform/envs/local. Do not edit: every",
        "`make dev` rewrites it. Load it with `set -a; . .local/stack.env; set +a`.",
    )
    return envfile.write_env_file(env, path, header)


def read_env_file(path: Path) -> dict[str, str]:
    """What every reader of the file gets (python-dotenv, as the API and the SQS runtime)."""
    return envfile.parse_env_file(path)


def _track(line: str, state: ApplyProgress, errors: list[str]) -> None:
    """Update `state` and `errors` from one line of `terraform apply -json`."""
    try:
        message = json.loads(line)
    except ValueError:
        return
    kind = message.get("type")
    if kind == "change_summary" and message.get("changes", {}).get("operation") == "plan":
        changes = message["changes"]
        state.planned = (
            int(changes.get("add", 0)) + int(changes.get("change", 0)) + int(changes.get("remove", 0))
        )
    elif kind in ("apply_start", "apply_complete", "apply_errored"):
        hook = message.get("hook", {})
        if hook.get("action") == "read":  # data sources are not planned changes
            return
        address = hook.get("resource", {}).get("addr", "")
        if kind == "apply_start":
            state.current.append(address)
            return
        if address in state.current:
            state.current.remove(address)
        if kind == "apply_complete":
            state.done += 1
    elif kind == "diagnostic" and message.get("@level") == "error":
        diagnostic = message.get("diagnostic", {})
        where = diagnostic.get("address") or diagnostic.get("range", {}).get("filename", "")
        errors.append(
            f"  {where}: {diagnostic.get('summary', '')}\n    {diagnostic.get('detail', '')}".rstrip()
        )


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])

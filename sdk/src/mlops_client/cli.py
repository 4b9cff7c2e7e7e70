"""`mlops`: the platform from the shell and from CI, on the SDK.

Tables for people, `--json` for scripts. Exit codes a CI job acts on:
0 approved or awaiting approval (or the command succeeded), 1 rejected or failed (or the API refused
or could not be reached, or a deployment failed), 2 usage (bad options, a bad config file, a request
the API found invalid), 3 timeout. Shell completion: `mlops --install-completion`.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from mlops_client.client import Client
from mlops_client.errors import (
    ApiError,
    ConfigurationError,
    DatasetInvalid,
    DeploymentConflict,
    DeploymentFailed,
    DeploymentWaitTimeout,
    RunEnded,
    RunFailed,
    RunRejected,
    WaitTimeout,
)
from mlops_client.models import Deployment, LaunchRequest, RunDetail, RunStatus

OK, FAILED, USAGE, TIMEOUT = 0, 1, 2, 3

app = typer.Typer(name="mlops", help="The MLOps platform from the shell.", no_args_is_help=True)
runs_app = typer.Typer(help="Launch, list, follow and cancel runs.", no_args_is_help=True)
datasets_app = typer.Typer(help="Upload and list JSONL datasets.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
deployments_app = typer.Typer(
    help="Deploy an approved model (or roll it back), list, retire and try its deployments.",
    no_args_is_help=True,
)
app.add_typer(runs_app, name="runs")
app.add_typer(datasets_app, name="datasets")
app.add_typer(models_app, name="models")
app.add_typer(deployments_app, name="deployments")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds to wait before exiting 3.", min=0)]
_LAUNCH: TypeAdapter[Any] = TypeAdapter(LaunchRequest)

P = ParamSpec("P")
R = TypeVar("R")


def _console(stderr: bool = False) -> Console:
    # a fixed width when not on a terminal, so piped tables do not truncate their columns
    return Console(stderr=stderr, width=None if sys.stdout.isatty() else 160, highlight=False)


def _fail(code: int, message: str) -> typer.Exit:
    _console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _handled(command: Callable[P, R]) -> Callable[P, R]:
    """The errors of a command as a message and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigurationError as exc:
            raise _fail(USAGE, str(exc)) from None
        except DatasetInvalid as exc:
            raise _fail(FAILED, str(exc)) from None
        except DeploymentConflict as exc:
            raise _fail(FAILED, f"refused: {exc}") from None
        except ApiError as exc:
            # the API found the request invalid: a usage error; anything else: it failed
            raise _fail(USAGE if exc.status_code in (400, 422) else FAILED, str(exc)) from None
        except (WaitTimeout, DeploymentWaitTimeout) as exc:
            raise _fail(TIMEOUT, str(exc)) from None
        except (RunEnded, DeploymentFailed) as exc:
            raise _fail(FAILED, str(exc)) from None

    return wrapper


def _client() -> Client:
    return Client.from_env()


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(_dump(value), indent=2, default=str))


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _console().print(table)


def _run_rows(runs: Iterable[Any]) -> list[list[Any]]:
    return [
        [
            r.id,
            r.status.value,
            "" if r.ml_score is None else f"{r.ml_score:.3f}",
            r.model_name,
            r.task_type.value,
            r.experiment_name,
            f"{r.created_at:%Y-%m-%d %H:%M}",
        ]
        for r in runs
    ]


RUN_COLUMNS = ("id", "status", "MLScore", "model", "task", "experiment", "created")


def _show_run(run: RunDetail) -> None:
    score = run.ml_score
    _table(
        f"run {run.id}",
        ("field", "value"),
        [
            ("status", run.status.value),
            ("model", f"{run.model_name} ({run.model_id})"),
            ("task", run.task_type.value),
            ("experiment", run.experiment_name),
            ("MLScore", "" if score is None else f"{score:.3f} (threshold {run.ml_score_threshold})"),
            ("reason", run.status_reason),
            ("created", f"{run.created_at:%Y-%m-%d %H:%M:%S} by {run.created_by}"),
        ],
    )


def _outcome(run: RunDetail, as_json: bool) -> None:
    if as_json:
        _print_json(run)
    else:
        _show_run(run)


@runs_app.command("launch")
@_handled
def runs_launch(
    config: Annotated[Path, typer.Option("--config", "-c", help="run.yaml: the POST /runs body as YAML.")],
    wait: Annotated[bool, typer.Option(help="Wait until the run needs a decision or ends.")] = False,
    fail_on_reject: Annotated[bool, typer.Option(help="With --wait: exit 1 when it is rejected.")] = False,
    timeout: TimeoutOption = 3600.0,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Makes a repeated launch (a CI retry) the same run.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Launch a run from a YAML file; with --wait, follow it to approval or rejection."""
    try:
        fields = yaml.safe_load(config.read_text())
        request = _LAUNCH.validate_python(fields)
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(USAGE, f"cannot read {config}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'][1:])) or e['loc'][0]}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(USAGE, f"{config}: {problems}") from None
    with _client() as client:
        run = client.runs.launch(request, idempotency_key=idempotency_key)
        if not wait:
            _outcome(client.runs.get(run.id), as_json)
            return
        try:
            final = client.runs.wait(run.id, timeout)
        except RunRejected as exc:
            _outcome(exc.run, as_json)
            if fail_on_reject:
                raise _fail(FAILED, str(exc)) from None
            return
        except RunFailed as exc:
            _outcome(exc.run, as_json)
            raise
        except WaitTimeout as exc:
            _outcome(exc.run, as_json)
            raise
        _outcome(final, as_json)


@runs_app.command("list")
@_handled
def runs_list(
    status: Annotated[list[RunStatus] | None, typer.Option(help="Repeat to match several.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model name.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Runs, newest first."""
    with _client() as client:
        runs = list(
            client.runs.list(
                status=[s.value for s in status or []],
                model_name=model,
                experiment_name=experiment,
                page_size=min(limit, 200),
                limit=limit,
            )
        )
    if as_json:
        _print_json(runs)
    else:
        _table(None, RUN_COLUMNS, _run_rows(runs))


@runs_app.command("get")
@_handled
def runs_get(run_id: int, as_json: JsonFlag = False) -> None:
    """A run: status, model, MLScore."""
    with _client() as client:
        _outcome(client.runs.get(run_id), as_json)


@runs_app.command("wait")
@_handled
def runs_wait(
    run_id: int,
    timeout: TimeoutOption = 3600.0,
    decision: Annotated[bool, typer.Option(help="Wait past awaiting_approval for the decision.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Wait for a run: 0 approved or awaiting approval, 1 rejected or failed, 3 timeout."""
    with _client() as client:
        try:
            run = client.runs.wait(run_id, timeout, wait_for_decision=decision)
        except (RunEnded, WaitTimeout) as exc:
            _outcome(exc.run, as_json)
            raise
    _outcome(run, as_json)


@runs_app.command("cancel")
@_handled
def runs_cancel(
    run_id: int,
    reason: Annotated[str | None, typer.Option(help="Why (on the run's timeline).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Cancel an active run."""
    with _client() as client:
        client.runs.cancel(run_id, reason)
        _outcome(client.runs.get(run_id), as_json)


@datasets_app.command("upload")
@_handled
def datasets_upload(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A JSONL file.")],
    kind: Annotated[str, typer.Option(help="train or eval.")] = "eval",
    name: Annotated[str | None, typer.Option(help="Defaults to the file's name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload a dataset; a refused file lists its bad lines (exit 1)."""
    with _client() as client:
        dataset = client.datasets.upload(path, kind=kind, name=name)
    if as_json:
        _print_json(dataset)
    else:
        _table(
            None,
            ("id", "name", "kind", "rows", "sha256"),
            [(dataset.id, dataset.name, dataset.kind.value, dataset.row_count, dataset.sha256[:12])],
        )


@datasets_app.command("list")
@_handled
def datasets_list(
    kind: Annotated[str | None, typer.Option(help="train or eval.")] = None, as_json: JsonFlag = False
) -> None:
    """Datasets, newest first."""
    with _client() as client:
        datasets = client.datasets.list(kind)
    if as_json:
        _print_json(datasets)
    else:
        rows = [(d.id, d.name, d.kind.value, d.row_count, f"{d.created_at:%Y-%m-%d %H:%M}") for d in datasets]
        _table(None, ("id", "name", "kind", "rows", "created"), rows)


def _decision(verb: str, run_id: int, comment: str | None, as_json: bool) -> None:
    with _client() as client:
        if verb == "approve":
            approval = client.approvals.approve(run_id, comment)
        else:
            approval = client.approvals.reject(run_id, comment or "")
    if as_json:
        _print_json(approval)
    else:
        _table(
            None,
            ("run", "decision", "by", "MLScore", "comment"),
            [
                (
                    approval.run_id,
                    approval.status,
                    approval.decided_by,
                    f"{approval.ml_score:.3f}",
                    approval.comment,
                )
            ],
        )


@app.command("approve")
@_handled
def approve(
    run_id: int,
    comment: Annotated[str | None, typer.Option(help="Why (in the audit trail).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a run awaiting approval (approver role)."""
    _decision("approve", run_id, comment, as_json)


@app.command("reject")
@_handled
def reject(
    run_id: int,
    comment: Annotated[str, typer.Option(help="Why (required).")],
    as_json: JsonFlag = False,
) -> None:
    """Reject a run awaiting approval (approver role)."""
    _decision("reject", run_id, comment, as_json)


@models_app.command("list")
@_handled
def models_list(as_json: JsonFlag = False) -> None:
    """The registry's model package groups."""
    with _client() as client:
        models = client.models.list()
    if as_json:
        _print_json(models)
    else:
        rows = [
            (m.name, m.versions, m.latest_version, m.latest_approval_status, m.approved_versions)
            for m in models
        ]
        _table(None, ("model", "versions", "latest", "latest status", "approved"), rows)


DEPLOYMENT_COLUMNS = ("id", "version", "status", "endpoint", "requested by", "created", "reason")


def _deployment_rows(deployments: Iterable[Deployment]) -> list[list[Any]]:
    return [
        [
            d.id,
            f"v{d.version}",
            d.status.value,
            d.endpoint_url or d.endpoint_name,
            f"{d.requested_by} ({d.origin})",
            f"{d.created_at:%Y-%m-%d %H:%M}",
            d.reason,
        ]
        for d in deployments
    ]


def _deployment_outcome(deployment: Deployment, as_json: bool) -> None:
    if as_json:
        _print_json(deployment)
    else:
        _table(
            f"deployment {deployment.id} of {deployment.model_name}",
            DEPLOYMENT_COLUMNS,
            _deployment_rows([deployment]),
        )


def _wait_for(client: Client, deployment_id: int, timeout: float, as_json: bool) -> Deployment:
    """The deployment once in service; where it stands is shown before a failure or a timeout exits."""
    try:
        return client.deployments.wait(deployment_id, timeout)
    except (DeploymentFailed, DeploymentWaitTimeout) as exc:
        _deployment_outcome(exc.deployment, as_json)
        raise


@deployments_app.command("list")
@_handled
def deployments_list(
    model: Annotated[str, typer.Argument(help="The model (its registry package group).")],
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many deployments.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """A model's deployments, newest first, and the one in service."""
    with _client() as client:
        listing = client.deployments.list(model, limit=limit)
    if as_json:
        _print_json(listing)
        return
    serving = listing.serving
    title = (
        f"{model}: v{serving.version} in service (deployment {serving.id})"
        if serving
        else f"{model}: nothing in service"
    )
    _table(title, DEPLOYMENT_COLUMNS, _deployment_rows(listing.items))


@deployments_app.command("deploy")
@_handled
def deployments_deploy(
    model: Annotated[str, typer.Argument(help="The model (its registry package group).")],
    version: Annotated[
        int | None,
        typer.Option(
            min=1, help="The package version; the newest approved one unless given (earlier: a rollback)."
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept on the deployment).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until it is in service (exit 1 if it fails).")] = False,
    timeout: TimeoutOption = 3600.0,
    as_json: JsonFlag = False,
) -> None:
    """Deploy an approved version of a model (operator role); refused (exit 1) unless the registry
    holds it as Approved."""
    with _client() as client:
        deployment = client.deployments.deploy(model, version, reason=reason)
        if wait:
            deployment = _wait_for(client, deployment.id, timeout, as_json)
    _deployment_outcome(deployment, as_json)


@deployments_app.command("get")
@_handled
def deployments_get(deployment_id: int, as_json: JsonFlag = False) -> None:
    """A deployment: version, status, endpoint."""
    with _client() as client:
        _deployment_outcome(client.deployments.get(deployment_id), as_json)


@deployments_app.command("wait")
@_handled
def deployments_wait(deployment_id: int, timeout: TimeoutOption = 3600.0, as_json: JsonFlag = False) -> None:
    """Wait for a deployment: 0 in service, 1 failed, rolled back or retired, 3 timeout."""
    with _client() as client:
        deployment = _wait_for(client, deployment_id, timeout, as_json)
    _deployment_outcome(deployment, as_json)


@deployments_app.command("retire")
@_handled
def deployments_retire(deployment_id: int, as_json: JsonFlag = False) -> None:
    """Retire a deployment in service (operator role): it stops serving."""
    with _client() as client:
        _deployment_outcome(client.deployments.retire(deployment_id), as_json)


@deployments_app.command("invoke")
@_handled
def deployments_invoke(
    deployment_id: int,
    question: Annotated[str, typer.Argument(help="The question (the prompt) for the served model.")],
    context: Annotated[
        list[str] | None, typer.Option("--context", help="A retrieved passage; repeat for several.")
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, max=512, help="The answer's length.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask a deployment in service one question (operator role): its answer and the latency."""
    with _client() as client:
        answer = client.deployments.invoke(
            deployment_id, question, contexts=context, max_new_tokens=max_new_tokens
        )
    if as_json:
        _print_json(answer)
    else:
        _table(
            None,
            ("deployment", "endpoint", "latency", "answer"),
            [(answer.deployment_id, answer.endpoint_name, f"{answer.latency_ms:.0f} ms", answer.answer)],
        )


def main() -> None:
    app()

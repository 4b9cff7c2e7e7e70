"""What approvals need of a run, stated here so that approvals never imports runs.

An approval belongs to a run: registering one reads the run's status and MLScore threshold, the
link pages show its names, and the run's end closes a wait it outlived. These protocols say which
facts those are; `mlops_api.flows` hands in the runs domain's implementations (its `get_run` and
its status hook), and import-linter keeps the two packages independent (pyproject.toml).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mlops_contracts.status import RunStatus


class RunFacts(Protocol):
    """The run an approval belongs to, read only (runs.models.PipelineRun is one)."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def ml_score_threshold(self) -> float: ...
    @property
    def experiment_name(self) -> str: ...
    @property
    def model_name(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def execution_arn(self) -> str | None: ...


class RunLookup(Protocol):
    """Loads a run (locked with `for_update`); raises NotFound for an unknown one."""

    async def __call__(self, session: AsyncSession, run_id: int, *, for_update: bool = False) -> RunFacts: ...


class RunStatusChanged(Protocol):
    """A status change the run has just taken (runs.schemas.StatusChange is one)."""

    @property
    def status(self) -> RunStatus: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def execution_arn(self) -> str | None: ...
    @property
    def event_id(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...

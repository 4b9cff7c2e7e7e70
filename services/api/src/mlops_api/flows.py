"""Where runs and approvals meet: the one module that imports both domains and wires them.

Neither domain imports the other (import-linter holds them independent, pyproject.toml). Each
states what it needs of the other (approvals: `approvals.ports.RunLookup`; runs: `runs.service.
StatusHook`), and this module hands in the other's implementation when the app is built.
"""

from __future__ import annotations

from fastapi import FastAPI

from mlops_api.approvals.ports import RunLookup
from mlops_api.approvals.service import on_run_status_changed
from mlops_api.runs.service import StatusHook, get_run

# A run that ends closes the approval it outlived, in the status change's transaction.
RUN_STATUS_HOOKS: tuple[StatusHook, ...] = (on_run_status_changed,)
RUN_LOOKUP: RunLookup = get_run


def wire(app: FastAPI) -> None:
    """Give the routers of each domain what they take from the other (read by their dependencies)."""
    app.state.run_status_hooks = RUN_STATUS_HOOKS
    app.state.run_lookup = RUN_LOOKUP

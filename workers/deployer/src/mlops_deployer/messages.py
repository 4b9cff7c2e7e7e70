"""The deploy task the release workflow puts on the deployments queue (the Deploy state of
terraform/templates/release_workflow.asl.json) and the answer it waits for."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DeployTask(BaseModel):
    """`mode` release: the package the release just approved (the deployer registers the deployment
    with the API); deploy: a deployment POST /deployments recorded (`deployment_id`)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    task_token: str = Field(min_length=1)
    mode: Literal["release", "deploy"]
    model_name: str = Field(min_length=1, max_length=63)
    model_package_arn: str = Field(min_length=1)
    run_id: int | None = None
    deployment_id: int | None = None
    execution_arn: str | None = None


class DeployOutcome(BaseModel):
    """The task output the workflow's Deploy state selects from."""

    deployment_id: int
    status: str
    endpoint_name: str
    endpoint_url: str | None = None

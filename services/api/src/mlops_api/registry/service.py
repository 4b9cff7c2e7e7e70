"""Reading package groups and packages from SageMaker (boto3 is synchronous: calls run in threads),
enriched with what the API knows of the runs behind them (their MLScore when the registry has none)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.errors import NotFound, Unavailable
from mlops_api.registry.schemas import ModelGroupOut, ModelVersionOut
from mlops_api.runs.models import PipelineRun, RunResult
from mlops_contracts.aws import aws_client

log = logging.getLogger(__name__)

_MISSING = ("does not exist", "not found", "ResourceNotFound")


class RegistryReader:
    def __init__(self, region: str) -> None:
        self._region = region

    def _client(self) -> Any:
        return aws_client("sagemaker", region=self._region, max_attempts=3)

    async def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            result: dict[str, Any] = getattr(self._client(), operation)(**kwargs)
            return result

        try:
            return await asyncio.to_thread(run)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            if code == "ResourceNotFound" or any(m in message for m in _MISSING):
                raise NotFound(message or code) from exc
            log.warning("SageMaker refused %s: %s", operation, code)
            raise Unavailable(f"the model registry refused the request ({code})") from exc
        except BotoCoreError as exc:
            log.warning("SageMaker unreachable: %s", type(exc).__name__)
            raise Unavailable(f"the model registry is unreachable ({type(exc).__name__})") from exc

    async def _pages(self, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = await self.call(operation, **kwargs, **({"NextToken": token} if token else {}))
            items.extend(page.get(key, []))
            token = page.get("NextToken")
            if not token:
                return items

    async def groups(self) -> list[dict[str, Any]]:
        return await self._pages(
            "list_model_package_groups", "ModelPackageGroupSummaryList", SortBy="Name", SortOrder="Ascending"
        )

    async def group(self, name: str) -> dict[str, Any]:
        return await self.call("describe_model_package_group", ModelPackageGroupName=name)

    async def packages(self, group: str) -> list[dict[str, Any]]:
        packages = await self._pages(
            "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=group
        )
        return sorted(packages, key=lambda p: int(p.get("ModelPackageVersion") or 0))

    async def package(self, arn: str) -> dict[str, Any]:
        # Package versions take no tags (SageMaker Model Registry): the release workflow writes its
        # verdict into the version's CustomerMetadataProperties, which DescribeModelPackage returns.
        return await self.call("describe_model_package", ModelPackageName=arn)


def summarize_group(group: dict[str, Any], packages: list[dict[str, Any]]) -> ModelGroupOut:
    latest = packages[-1] if packages else None
    return ModelGroupOut(
        name=group["ModelPackageGroupName"],
        arn=group.get("ModelPackageGroupArn", ""),
        description=group.get("ModelPackageGroupDescription") or None,
        created_at=group.get("CreationTime"),
        versions=len(packages),
        latest_version=int(latest["ModelPackageVersion"]) if latest else None,
        latest_approval_status=latest.get("ModelApprovalStatus") if latest else None,
        approved_versions=sum(p.get("ModelApprovalStatus") == "Approved" for p in packages),
    )


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() and len(text) < 19 else None


def metadata_of(described: dict[str, Any]) -> dict[str, str]:
    """A package version's CustomerMetadataProperties (where the workflow writes run id and verdict)."""
    return {str(k): str(v) for k, v in (described.get("CustomerMetadataProperties") or {}).items()}


def _registry_score(metadata: dict[str, str]) -> float | None:
    for key in ("ml_score", "MLScore", "mlscore"):
        if key in metadata and (score := _number(metadata[key])) is not None:
            return score
    return None


async def _runs_facts(session: AsyncSession, run_ids: set[int]) -> dict[int, tuple[str, float | None]]:
    if not run_ids:
        return {}
    query = (
        select(PipelineRun.id, PipelineRun.status, RunResult.ml_score)
        .outerjoin(RunResult, (RunResult.run_id == PipelineRun.id) & (RunResult.stage == "evaluation"))
        .where(PipelineRun.id.in_(run_ids))
    )
    return {row.id: (row.status, row.ml_score) for row in (await session.execute(query)).all()}


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def versions(
    session: AsyncSession, reader: RegistryReader, packages: list[dict[str, Any]]
) -> list[ModelVersionOut]:
    details: list[tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = []
    for chunk in _chunks(packages, 8):  # a few calls at a time: the registry's API is rate-limited
        fetched = await asyncio.gather(*(reader.package(p["ModelPackageArn"]) for p in chunk))
        details.extend((p, d, metadata_of(d)) for p, d in zip(chunk, fetched, strict=True))
    run_ids = {rid for _, _, metadata in details if (rid := _int(metadata.get("run_id"))) is not None}
    facts = await _runs_facts(session, run_ids)
    out = []
    for summary, described, metadata in details:
        run_id = _int(metadata.get("run_id"))
        run_status, run_score = facts.get(run_id, (None, None)) if run_id is not None else (None, None)
        score = _registry_score(metadata)
        source = "registry" if score is not None else ("run" if run_score is not None else None)
        created: datetime | None = summary.get("CreationTime") or described.get("CreationTime")
        out.append(
            ModelVersionOut(
                version=int(summary.get("ModelPackageVersion") or 0),
                arn=summary["ModelPackageArn"],
                approval_status=described.get("ModelApprovalStatus") or summary.get("ModelApprovalStatus"),
                package_status=described.get("ModelPackageStatus") or summary.get("ModelPackageStatus"),
                description=described.get("ModelPackageDescription") or None,
                approval_description=described.get("ApprovalDescription") or None,
                created_at=created,
                metadata=metadata,
                run_id=run_id,
                run_status=run_status,
                ml_score=score if score is not None else run_score,
                ml_score_source=source,
            )
        )
    return out

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.deps import require
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Permission
from mlops_api.datasets import service
from mlops_api.datasets.schemas import DatasetList, DatasetOut
from mlops_api.deps import get_autocommit_session, get_session
from mlops_api.schemas import error_responses
from mlops_contracts.aws import aws_client
from mlops_contracts.datasets import DatasetKind

router = APIRouter(prefix="/datasets", tags=["datasets"])

Session = Annotated[AsyncSession, Depends(get_session)]
AutocommitSession = Annotated[AsyncSession, Depends(get_autocommit_session)]  # for reads


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetOut,
    responses=error_responses(400, 401, 403, 413, 422),
    summary="Upload a JSONL dataset (every line validated)",
)
async def upload_dataset(
    request: Request,
    session: Session,
    principal: Annotated[Principal, Depends(require(Permission.UPLOAD_DATASET))],
    name: Annotated[
        str,
        Form(
            min_length=1,
            max_length=128,
            pattern=r"^[\w][\w .:-]*$",
            description="A name for people",
            examples=["platform-qa-eval"],
        ),
    ],
    kind: Annotated[
        DatasetKind, Form(description="train: QA or chat rows; eval: RAGAS rows", examples=["eval"])
    ],
    file: Annotated[
        UploadFile,
        File(
            description="JSONL, one JSON object per line",
            examples=['{"question": "...", "answer": "...", "contexts": ["..."], "ground_truth": "..."}'],
        ),
    ],
) -> DatasetOut:
    settings = request.app.state.settings
    dataset = await service.upload_dataset(
        session,
        aws_client("s3", region=settings.aws_region),
        bucket=settings.datasets_bucket,
        name=name,
        kind=kind,
        filename=file.filename or "upload",
        stream=file.file,
        max_upload_bytes=settings.max_upload_bytes,
        max_line_bytes=settings.max_line_bytes,
        max_errors=settings.max_reported_line_errors,
        principal=principal,
    )
    return DatasetOut.model_validate(dataset)


@router.get("", response_model=DatasetList, responses=error_responses(401, 403, 422))
async def list_datasets(
    session: AutocommitSession,
    _: Annotated[Principal, Depends(require(Permission.READ))],
    kind: Annotated[DatasetKind | None, Query()] = None,
) -> DatasetList:
    rows = await service.list_datasets(session, kind)
    return DatasetList(items=[DatasetOut.model_validate(r) for r in rows])


@router.get("/{dataset_id}", response_model=DatasetOut, responses=error_responses(401, 403, 404, 422))
async def get_dataset(
    dataset_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: AutocommitSession,
    _: Annotated[Principal, Depends(require(Permission.READ))],
) -> DatasetOut:
    return DatasetOut.model_validate(await service.get_dataset(session, dataset_id))

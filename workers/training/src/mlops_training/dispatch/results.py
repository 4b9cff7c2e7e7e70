"""The training result reaches the run: the job wrote `output/data/training-result.json`
(mlops_training.result); the dispatcher side reads it (from the local backend's root, or from the
`output.tar.gz` SageMaker uploads) and records it with `PUT /runs/{id}/results/training` through the
one ApiClient, with the trainer's own key (role `trainer`, services/api auth/roles.py).

The result is a report, not a gate: when it cannot be recorded, the failure is logged and the
workflow's task is still answered (a training the run needs is never redone for its report).
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_training.dispatch.messages import split_s3_uri
from mlops_training.result import RESULT_FILE

log = logging.getLogger(__name__)

TRAINER_ROLE = "trainer"
# output.tar.gz holds the job's output/data folder: the result is small, the archive is read whole
MAX_OUTPUT_ARCHIVE_BYTES = 64 * 2**20


def read_local_result(root: Path) -> dict[str, Any] | None:
    path = root / "output" / "data" / RESULT_FILE
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def output_archive_key(job: dict[str, Any]) -> tuple[str, str]:
    """Where SageMaker put the job's output/data: `<S3OutputPath>/<job name>/output/output.tar.gz`."""
    bucket, prefix = split_s3_uri(job["OutputDataConfig"]["S3OutputPath"])
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, f"{prefix}{job['TrainingJobName']}/output/output.tar.gz"


def read_job_result(job: dict[str, Any]) -> dict[str, Any] | None:
    """The result inside a finished SageMaker job's output.tar.gz (read in memory, one member:
    nothing of the archive is written to disk)."""
    bucket, key = output_archive_key(job)
    s3 = aws_client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        log.warning(
            "training job %s: no output archive at s3://%s/%s (%s)", job["TrainingJobName"], bucket, key, exc
        )
        return None
    if head["ContentLength"] > MAX_OUTPUT_ARCHIVE_BYTES:
        log.warning(
            "training job %s: output archive of %d bytes not read",
            job["TrainingJobName"],
            head["ContentLength"],
        )
        return None
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and Path(member.name).name == RESULT_FILE:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    result: dict[str, Any] = json.loads(extracted.read())
                    return result
    return None


def record_job_result(job: dict[str, Any]) -> bool:
    """The completion handler's side: the run (the job's RUN_ID) gets the result in the job's
    output archive. Nothing here raises: the workflow's task is answered whatever happens."""
    run_id = str(job.get("Environment", {}).get("RUN_ID", ""))
    if not run_id.isdigit():
        log.warning("training job %s has no RUN_ID: no training result recorded", job.get("TrainingJobName"))
        return False
    try:
        result = read_job_result(job)
    except Exception as exc:
        log.error("training job %s: its result could not be read: %s", job.get("TrainingJobName"), exc)
        return False
    return record_result(int(run_id), result)


def record_result(run_id: int, result: dict[str, Any] | None, *, client: ApiClient | None = None) -> bool:
    """PUT the result on the run; False (logged) when there is none or the API refused it."""
    if result is None:
        log.warning("run %s: the training wrote no %s, no training result recorded", run_id, RESULT_FILE)
        return False
    try:
        api = client or ApiClient.from_env(worker=TRAINER_ROLE)
        with api:
            api.request("PUT", f"/runs/{run_id}/results/training", json=result)
    except Exception as exc:
        log.error("run %s: training result not recorded: %s", run_id, exc)
        return False
    log.info("run %s: training result recorded", run_id)
    return True

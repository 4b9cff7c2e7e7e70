"""POST /runs refuses an s3:// `model_id` in a bucket the platform's jobs cannot read: the training
job and the evaluation worker would fail with AccessDenied after the run had started. Their roles
read the datasets and model-outputs buckets, and whatever MODEL_SOURCE_BUCKETS adds (granted to
them by the deployment)."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_api.errors import Unprocessable


def require_readable(model_id: str, readable_buckets: Sequence[str]) -> None:
    """A 422 naming the bucket and listing the readable ones; hub ids and local paths pass."""
    if not model_id.startswith("s3://"):
        return
    bucket = model_id.removeprefix("s3://").split("/", 1)[0]
    if bucket not in readable_buckets:
        raise Unprocessable(
            f"model_id {model_id}: the platform's jobs cannot read the bucket '{bucket}'; readable "
            f"buckets: {', '.join(readable_buckets)} (MODEL_SOURCE_BUCKETS adds more, granted to the "
            "jobs' roles)"
        )

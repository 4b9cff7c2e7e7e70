"""Where a stage's result files may lie: under the run's own prefix in the platform's model-outputs
bucket, `s3://<bucket>/<model_name>/.../run-<id>/...` (the workflow's `output_uri` and the evaluation
worker's samples key). A worker key could once point `samples_uri` at any object, which the API then
served to every viewer (#23)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlops_api.errors import Unprocessable

_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>[^?#]+)$")


def uri_fields(metrics: Mapping[str, Any], path: str = "metrics") -> Iterator[tuple[str, Any]]:
    """Every `*_uri` field of a result, at any depth, with its dotted name."""
    for name, value in metrics.items():
        here = f"{path}.{name}"
        if isinstance(value, Mapping):
            yield from uri_fields(value, here)
        elif name.endswith("_uri"):
            yield here, value


def under_run_prefix(uri: str, *, bucket: str, model_name: str, run_id: int) -> bool:
    match = _S3_URI.match(uri)
    if match is None or match["bucket"] != bucket:
        return False
    parts = match["key"].split("/")
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        return False
    # the model's folder first, then the run's folder somewhere above the object
    return parts[0] == model_name and f"run-{run_id}" in parts[1:-1]


def check(metrics: Mapping[str, Any], *, bucket: str, model_name: str, run_id: int) -> None:
    """422 naming the first `*_uri` field outside the run's prefix (null means no file)."""
    for field, value in uri_fields(metrics):
        if value is None:
            continue
        if not isinstance(value, str) or not under_run_prefix(
            value, bucket=bucket, model_name=model_name, run_id=run_id
        ):
            raise Unprocessable(
                f"{field} must lie under the run's own prefix s3://{bucket}/{model_name}/.../run-{run_id}/ "
                f"(got {str(value)[:300]!r}): nothing was recorded"
            )

"""The package's model data: what SageMaker extracts into /opt/ml/model, extracted here for the
local serving process."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_contracts.aws import aws_client
from mlops_contracts.safe_files import extract_tar


class PackageNotDeployable(ValueError):
    pass


def model_data_url(package: dict[str, Any]) -> str:
    """The package's ModelDataUrl (DescribeModelPackage's InferenceSpecification.Containers[0])."""
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    url = str(containers[0].get("ModelDataUrl") or "") if containers else ""
    if not url.startswith("s3://"):
        raise PackageNotDeployable(
            f"package {package.get('ModelPackageArn')} has no ModelDataUrl (an s3:// model.tar.gz) to serve"
        )
    return url


def extract_model(url: str, destination: Path) -> Path:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="deploy-") as tmp:
        archive = Path(tmp) / "model.tar.gz"
        try:
            aws_client("s3").download_file(bucket, key, str(archive))
        except (ClientError, BotoCoreError) as exc:
            raise PackageNotDeployable(f"the package's model data {url} cannot be read: {exc}") from exc
        try:
            extract_tar(archive, destination)
        except (tarfile.TarError, OSError, ValueError) as exc:  # ValueError: an unsafe member path
            raise PackageNotDeployable(
                f"the package's model data {url} is not a model.tar.gz: {exc}"
            ) from exc
    return destination

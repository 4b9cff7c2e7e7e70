"""The job's output: what `model.tar.gz` holds, whichever backend trained it.

    metadata.json   base model, dataset sha256, hyperparameters, metrics, prompt format, versions
    adapter/        the LoRA adapter (adapter_config.json, adapter_model.safetensors) + tokenizer
    merged/         optional (merge_weights): base weights with the adapter merged + tokenizer

Layout on disk:
- `tar` (the local backend, and whenever not on SageMaker): `<model dir>/model.tar.gz` plus
  `<model dir>/metrics.json` beside it for the dispatcher;
- `dir` (on SageMaker, detected by TRAINING_JOB_ARN): the files themselves in /opt/ml/model,
  because SageMaker packs that folder into `<output path>/<job>/output/model.tar.gz` on its own
  (a tarball inside would be packed twice).
Both yield the same S3 object: a model.tar.gz with the layout above at its root.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

# the names are written once in mlops_contracts (the evaluation worker and the serving container
# read them); re-exported for the job's modules
from mlops_contracts.artifact_layout import ADAPTER_DIR as ADAPTER_DIR
from mlops_contracts.artifact_layout import ARCHIVE_NAME, METADATA_NAME, METRICS_NAME
from mlops_contracts.artifact_layout import MERGED_DIR as MERGED_DIR

Layout = Literal["tar", "dir"]


def choose_layout(requested: str, env: Mapping[str, str]) -> Layout:
    if requested in ("tar", "dir"):
        return requested  # type: ignore[return-value]
    return "dir" if env.get("TRAINING_JOB_ARN") else "tar"


def save_adapter(model: Any, tokenizer: Any, folder: Path, *, base_model_id: str) -> None:
    # the adapter names the base model by its id, not by the folder it was loaded from here
    for config in model.peft_config.values():
        config.base_model_name_or_path = base_model_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def save_merged(model: Any, tokenizer: Any, folder: Path) -> None:
    """Merge the adapter into the base weights (mutates the model: call last)."""
    merged = model.merge_and_unload()
    merged.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def write_metadata(folder: Path, metadata: Mapping[str, Any]) -> Path:
    path = folder / METADATA_NAME
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str))
    return path


def pack(staging: Path, archive: Path) -> Path:
    """gzip level 1: safetensors barely compress, and a 14 GB merged model must not take an hour."""
    tmp = archive.with_name(f".{archive.name}.tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for entry in sorted(staging.iterdir()):
            tar.add(entry, arcname=entry.name)
    os.replace(tmp, archive)
    return archive


def finalize(staging: Path, model_dir: Path, layout: Layout, metrics: Mapping[str, float]) -> Path:
    """Move the staged files into place; returns the archive (tar) or the folder (dir)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / METRICS_NAME).write_text(json.dumps(dict(metrics), indent=2))
    if layout == "tar":
        archive = pack(staging, model_dir / ARCHIVE_NAME)
        shutil.rmtree(staging, ignore_errors=True)
        return archive
    for entry in staging.iterdir():
        target = model_dir / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        shutil.move(str(entry), str(target))
    shutil.rmtree(staging, ignore_errors=True)
    return model_dir

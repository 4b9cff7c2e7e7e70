"""Find what to load in the model directory SageMaker extracted from the package's `model.tar.gz`.

The layout is the training job's (mlops_training.artifacts): `metadata.json` (base model, prompt
format), `adapter/` (the LoRA adapter and the tokenizer) and, when the run merged its weights,
`merged/`. Merged weights are served as they are; an adapter needs its base model, named by the
metadata or by SERVING_BASE_MODEL / HF_MODEL_ID (a directory baked into the model data, or a hub
id). A package without model data (an eval_only candidate: the base model itself) serves the base
model alone, prompted with the training worker's QA template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_contracts.artifact_layout import ADAPTER_DIR, MERGED_DIR, METADATA_NAME
from mlops_contracts.prompts import PromptFormat


class ArtifactError(RuntimeError):
    """The model directory cannot be served; the message says what is missing."""


@dataclass(frozen=True)
class ServedModel:
    weights: str  # a directory or a hub id that from_pretrained loads
    tokenizer: str
    adapter_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_format(self) -> PromptFormat:
        return PromptFormat.from_metadata(self.metadata)

    @property
    def name(self) -> str:
        return str(self.metadata.get("run_id") or self.metadata.get("base_model") or self.weights)


def _read_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_NAME
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not readable JSON: {exc}") from None
    return loaded if isinstance(loaded, dict) else {}


def _base_weights(metadata: dict[str, Any], override: str) -> str:
    base = override or str(metadata.get("base_model") or "")
    if not base:
        raise ArtifactError(
            "the artifact holds an adapter but names no base model: set SERVING_BASE_MODEL "
            "(a directory or a hub id) or train with merge_weights"
        )
    if base.startswith("file://"):
        return base.removeprefix("file://")
    if base.startswith("s3://"):
        raise ArtifactError(
            f"the base model {base} is in S3, which the serving container does not read: bake it into "
            "the model data and set SERVING_BASE_MODEL to its directory, or train with merge_weights"
        )
    return base


def locate(model_dir: Path, *, base_model: str = "") -> ServedModel:
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        if base_model:  # no model data: the base model is the candidate
            weights = _base_weights({}, base_model)
            return ServedModel(weights=weights, tokenizer=weights)
        raise ArtifactError(
            f"the model directory {model_dir} is missing or empty and no base model is named "
            "(SERVING_BASE_MODEL or HF_MODEL_ID)"
        )
    metadata = _read_metadata(model_dir)
    merged = model_dir / MERGED_DIR
    if (merged / "config.json").exists():
        return ServedModel(weights=str(merged), tokenizer=str(merged), metadata=metadata)
    adapter = model_dir / ADAPTER_DIR
    if not (adapter / "adapter_config.json").exists():
        raise ArtifactError(
            f"{model_dir} holds neither merged weights ({MERGED_DIR}/config.json) nor a LoRA adapter "
            f"({ADAPTER_DIR}/adapter_config.json): is this a training artifact of the platform?"
        )
    base = _base_weights(metadata, base_model)
    tokenizer = str(adapter) if (adapter / "tokenizer_config.json").exists() else base
    return ServedModel(weights=base, tokenizer=tokenizer, adapter_dir=adapter, metadata=metadata)

"""The serving container's configuration (environment variables, prefix SERVING_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVING_", extra="ignore")

    # SageMaker extracts the package's ModelDataUrl (model.tar.gz) here
    model_dir: Path = Path("/opt/ml/model")
    # where the base weights come from when the artifact holds an adapter only (a local directory
    # or a hub id; empty = the base model the artifact's metadata names), and the whole model of a
    # package without model data (an eval_only candidate). HF_MODEL_ID is what the release
    # workflow's CreateModelPackage puts in the container's environment.
    base_model: str = Field(default="", validation_alias=AliasChoices("SERVING_BASE_MODEL", "HF_MODEL_ID"))
    host: str = "0.0.0.0"  # noqa: S104 - inside the container, behind SageMaker's endpoint
    # SageMaker's inference contract: the container answers on 8080
    port: int = Field(default=8080, ge=1, le=65535)
    # dynamic batching: a batch starts when it is full or when its first request waited this long
    max_batch_size: int = Field(default=16, ge=1, le=256)
    max_wait_ms: float = Field(default=10.0, ge=0, le=1000)
    # the most tokens one request may ask for, and the longest prompt kept (its end: question and cue)
    max_new_tokens_limit: int = Field(default=512, ge=1, le=8192)
    max_input_tokens: int = Field(default=2048, ge=16, le=131072)
    # requests waiting for a batch beyond this are answered 503 (back-pressure, not an endless queue)
    max_queue: int = Field(default=512, ge=1)
    device: str = ""  # empty = cuda when available, else cpu
    # auto: vLLM where it is installed on a CUDA GPU of compute capability 8.0+ (untested here),
    # otherwise transformers (the tested engine)
    engine: Literal["auto", "transformers", "vllm"] = "auto"

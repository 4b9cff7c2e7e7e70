"""The offline base model of `make dev` and `make demo`: a tiny causal LM whose tokenizer is trained on
the sample datasets, built once under `.local/models/tiny-llm`.

Nothing can be downloaded from a model hub here; the workers load this directory through the same
`from_pretrained(path)` that loads a hub id in production, so a run launched with it exercises the
real training and evaluation code. Its absolute path is the model id (the API accepts local paths).
"""

from __future__ import annotations

from pathlib import Path

from mlops_devstack.paths import local_dir
from mlops_devstack.samples import SampleDataset, sample_datasets, sample_texts
from mlops_devstack.tiny_model import build_tiny_model

# The dashboard's suggested base model; `make dev` sets it to the tiny model's path unless it is
# set already (e.g. to a hub id on a machine with internet access).
DEFAULT_BASE_MODEL_ENV = "DEFAULT_BASE_MODEL"


def tiny_model_dir() -> Path:
    return local_dir() / "models" / "tiny-llm"


def ensure_tiny_model(path: Path | None = None, datasets: list[SampleDataset] | None = None) -> Path:
    """The tiny model's directory, built on first use (seconds) and reused while the samples'
    text is unchanged (build_tiny_model stamps what it was built from)."""
    texts = sample_texts(datasets if datasets is not None else sample_datasets())
    return build_tiny_model((path or tiny_model_dir()).resolve(), texts)

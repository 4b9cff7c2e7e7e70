"""What the container loads from /opt/ml/model, and the errors that say what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_serving.artifact import ArtifactError, locate
from mlops_serving.settings import ServingSettings


def test_an_adapter_loads_on_the_base_model_its_metadata_names(model_dir: Path, tiny_model: Path) -> None:
    served = locate(model_dir)
    assert served.weights == str(tiny_model)  # file:// stripped
    assert served.adapter_dir == model_dir / "adapter"
    assert served.tokenizer == str(model_dir / "adapter")
    assert served.prompt_format.kind == "qa"


def test_merged_weights_are_served_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "config.json").write_text("{}")
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    served = locate(tmp_path)
    assert served.weights == str(tmp_path / "merged")
    assert served.adapter_dir is None


def test_a_package_without_model_data_serves_the_base_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what the workflow's CreateModelPackage gives an eval_only candidate: no ModelDataUrl, HF_MODEL_ID
    monkeypatch.setenv("HF_MODEL_ID", "mistralai/Mistral-7B-v0.1")
    settings = ServingSettings(model_dir=tmp_path / "empty")
    served = locate(settings.model_dir, base_model=settings.base_model)
    assert (served.weights, served.tokenizer, served.adapter_dir) == (
        "mistralai/Mistral-7B-v0.1",
        "mistralai/Mistral-7B-v0.1",
        None,
    )


@pytest.mark.parametrize(
    ("files", "base", "message"),
    [
        ({}, "", "is missing or empty and no base model is named"),
        ({"weights.bin": ""}, "", "neither merged weights"),
        ({"adapter/adapter_config.json": "{}", "metadata.json": "{}"}, "", "names no base model"),
        (
            {
                "adapter/adapter_config.json": "{}",
                "metadata.json": json.dumps({"base_model": "s3://b/base/"}),
            },
            "",
            "is in S3, which the serving container does not read",
        ),
        ({"adapter/adapter_config.json": "{}", "metadata.json": "{not json"}, "", "is not readable JSON"),
    ],
)
def test_what_cannot_be_served_is_named(
    tmp_path: Path, files: dict[str, str], base: str, message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(ArtifactError, match=message):
        locate(tmp_path, base_model=base)


def test_the_engine_is_transformers_unless_vllm_can_run(model_dir: Path) -> None:
    """vLLM is not installed on these machines: auto falls back to the tested engine, and asking for
    vLLM outright is refused with what it needs."""
    from mlops_serving.engine import TransformersEngine
    from mlops_serving.vllm_engine import load_engine, vllm_usable

    assert not vllm_usable("")
    served = locate(model_dir)
    assert isinstance(load_engine(served, engine="auto", device="cpu"), TransformersEngine)
    with pytest.raises(ArtifactError, match="SERVING_ENGINE=vllm needs vLLM installed and a CUDA GPU"):
        load_engine(served, engine="vllm", device="")

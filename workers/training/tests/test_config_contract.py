"""hyperparameters.json parsing and the SageMaker container paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_api.runs.schemas import Hyperparameters as ApiHyperparameters
from mlops_training.config import ConfigError, Hyperparameters, parse_job_config
from mlops_training.contract import ContainerPaths


def test_sagemaker_string_values_are_decoded() -> None:
    config = parse_job_config(
        {
            "model_id": "mistralai/Mistral-7B-v0.1",
            "run_id": "42",
            "epochs": "2",
            "learning_rate": "1e-4",
            "lora_dropout": "0.1",
            "packing": "false",
            "gradient_checkpointing": "true",
            "torch_compile": "false",
            "lora_target_modules": "q_proj,v_proj",
            "sagemaker_region": '"eu-west-1"',  # added by the SageMaker SDK: not ours, ignored
        }
    )
    hp = config.hyperparameters
    assert config.model_id == "mistralai/Mistral-7B-v0.1"
    assert config.run_id == "42"
    assert (hp.epochs, hp.learning_rate, hp.lora_dropout) == (2, 1e-4, 0.1)
    assert hp.packing is False
    assert hp.gradient_checkpointing is True
    assert hp.torch_compile == "false"
    assert hp.lora_target_modules == "q_proj,v_proj"


def test_native_json_values_work_too() -> None:
    config = parse_job_config(
        {"model_id": "/models/tiny", "epochs": 1, "merge_weights": True, "liger_kernels": True}
    )
    assert config.hyperparameters.epochs == 1
    assert config.hyperparameters.merge_weights is True
    assert config.hyperparameters.liger_kernels == "true"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"epochs": "2"}, "model_id: Field required"),
        ({"model_id": "m", "epochz": "2"}, "epochz: Extra inputs are not permitted"),
        (
            {"model_id": "m", "learning_rate": "0.5"},
            "learning_rate: Input should be less than or equal to 0.01",
        ),
        ({"model_id": "m", "batch_size": "four"}, "batch_size: Input should be a valid integer"),
    ],
)
def test_bad_hyperparameters_name_the_key(raw: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_job_config(raw)


def test_names_defaults_and_bounds_match_the_api() -> None:
    """A run's hyperparameters go from the API to this worker unchanged: same names, defaults and
    bounds (the worker adds only operator knobs)."""
    ours = Hyperparameters.model_fields
    for name, api_field in ApiHyperparameters.model_fields.items():
        assert name in ours, f"the worker does not know the API's hyperparameter {name}"
        assert ours[name].default == api_field.default, name
        assert [repr(m) for m in ours[name].metadata] == [repr(m) for m in api_field.metadata], name
    api_defaults = ApiHyperparameters().model_dump()
    parsed = parse_job_config({"model_id": "m", **{k: json.dumps(v) for k, v in api_defaults.items()}})
    assert parsed.hyperparameters.model_dump(include=set(api_defaults)) == api_defaults


def test_paths_under_an_explicit_root(tmp_path: Path) -> None:
    paths = ContainerPaths.resolve(tmp_path, env={"SM_MODEL_DIR": "/elsewhere"})
    assert paths.hyperparameters_file == tmp_path / "input" / "config" / "hyperparameters.json"
    assert (
        paths.channel("train", env={"SM_CHANNEL_TRAIN": "/elsewhere"})
        == tmp_path / "input" / "data" / "train"
    )
    assert paths.model == tmp_path / "model"
    assert paths.checkpoints == tmp_path / "checkpoints"
    assert paths.failure_file == tmp_path / "output" / "failure"


def test_sagemaker_defaults_and_sm_variables(tmp_path: Path) -> None:
    paths = ContainerPaths.resolve(None, env={})
    assert paths.model == Path("/opt/ml/model")
    assert paths.checkpoints == Path("/opt/ml/checkpoints")
    env = {"SM_MODEL_DIR": "/mnt/model", "SM_CHANNEL_TRAIN": "/mnt/train"}
    paths = ContainerPaths.resolve(None, env=env)
    assert paths.model == Path("/mnt/model")
    assert paths.channel("train", env=env) == Path("/mnt/train")
    assert ContainerPaths.resolve(None, env={"SM_TRAINING_ROOT": str(tmp_path)}).root == tmp_path


def test_failure_reason_is_cut_to_sagemaker_limit(tmp_path: Path) -> None:
    paths = ContainerPaths.under(tmp_path)
    paths.write_failure("x" * 5000)
    assert len(paths.failure_file.read_text()) == 1024

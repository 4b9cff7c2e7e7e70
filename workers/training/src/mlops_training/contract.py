"""The SageMaker training-container contract, with a configurable root.

SageMaker mounts everything under /opt/ml:

    /opt/ml/input/config/hyperparameters.json   the job's hyperparameters (string values)
    /opt/ml/input/data/<channel>/               one folder per input channel (`train`, optional `model`)
    /opt/ml/model/                               what SageMaker uploads as model.tar.gz
    /opt/ml/checkpoints/                         synced to CheckpointConfig.S3Uri (Spot resume)
    /opt/ml/output/failure                       the job's FailureReason (first 1024 characters)
    /opt/ml/output/data/                         other outputs

The local backend runs the very same entrypoint with `--root <tmpdir>` (or SM_TRAINING_ROOT), so the
layout is identical under a temporary directory. Without an explicit root, the SM_* variables of the
SageMaker training toolkit override single folders, and /opt/ml is the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/opt/ml")
FAILURE_REASON_LIMIT = 1024  # SageMaker keeps the first 1024 characters of output/failure


@dataclass(frozen=True)
class ContainerPaths:
    root: Path
    input_config: Path
    input_data: Path
    model: Path
    checkpoints: Path
    output: Path
    output_data: Path

    @classmethod
    def under(cls, root: Path) -> ContainerPaths:
        return cls(
            root=root,
            input_config=root / "input" / "config",
            input_data=root / "input" / "data",
            model=root / "model",
            checkpoints=root / "checkpoints",
            output=root / "output",
            output_data=root / "output" / "data",
        )

    @classmethod
    def resolve(cls, root: str | Path | None = None, env: Mapping[str, str] | None = None) -> ContainerPaths:
        """`root` (the --root flag) wins, then SM_TRAINING_ROOT; otherwise /opt/ml with the SM_*
        folder variables the SageMaker training toolkit sets."""
        env = os.environ if env is None else env
        explicit = root or env.get("SM_TRAINING_ROOT")
        if explicit:
            return cls.under(Path(explicit))
        base = cls.under(DEFAULT_ROOT)

        def pick(var: str, default: Path) -> Path:
            return Path(env[var]) if env.get(var) else default

        return cls(
            root=DEFAULT_ROOT,
            input_config=pick("SM_INPUT_CONFIG_DIR", base.input_config),
            input_data=pick("SM_INPUT_DATA_DIR", base.input_data),
            model=pick("SM_MODEL_DIR", base.model),
            checkpoints=base.checkpoints,  # CheckpointConfig.LocalPath default; no SM_ variable
            output=pick("SM_OUTPUT_DIR", base.output),
            output_data=pick("SM_OUTPUT_DATA_DIR", base.output_data),
        )

    @property
    def hyperparameters_file(self) -> Path:
        return self.input_config / "hyperparameters.json"

    @property
    def failure_file(self) -> Path:
        return self.output / "failure"

    def channel(self, name: str, env: Mapping[str, str] | None = None) -> Path:
        """A channel's folder (SM_CHANNEL_<NAME> when set and no explicit root was given)."""
        env = os.environ if env is None else env
        override = env.get(f"SM_CHANNEL_{name.upper()}")
        if override and self.root == DEFAULT_ROOT:
            return Path(override)
        return self.input_data / name

    def make_dirs(self) -> None:
        for folder in (self.model, self.checkpoints, self.output, self.output_data):
            folder.mkdir(parents=True, exist_ok=True)

    def write_failure(self, reason: str) -> None:
        """SageMaker shows this as the job's FailureReason; the local backend reads it back."""
        self.output.mkdir(parents=True, exist_ok=True)
        self.failure_file.write_text(reason[:FAILURE_REASON_LIMIT])

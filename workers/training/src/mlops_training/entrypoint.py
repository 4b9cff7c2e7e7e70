"""The training container's entrypoint: `python -m mlops_training [train] [--root DIR]`.

SageMaker starts the image as `<entrypoint> train`; the local backend runs the same command with
`--root <tmpdir>`. Exit status 0 means `model.tar.gz` (or the model folder, on SageMaker) is written;
anything else leaves the reason in `<root>/output/failure`: for bad data, the file, the line and why.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
import traceback
from collections.abc import Sequence

from mlops_contracts.hub_token import HubTokenError
from mlops_contracts.logs import configure_logging as platform_logging
from mlops_training.config import ConfigError
from mlops_training.contract import ContainerPaths
from mlops_training.data import DatasetError
from mlops_training.heartbeat import WorkflowGaveUp, heartbeat_from_env
from mlops_training.loop import StopRequest, TrainingDiverged, TrainingInterrupted

log = logging.getLogger("mlops_training")

EXIT_OK, EXIT_FAILED = 0, 1


def configure_logging(run_id: str | None = None) -> None:
    """The platform's JSON logs on stdout, each line with the run id (metric lines are printed raw
    beside them)."""
    platform_logging(fields={"run_id": run_id} if run_id else None)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mlops_training", description=__doc__)
    parser.add_argument(
        "mode", nargs="?", default="train", choices=["train"], help="SageMaker passes 'train'"
    )
    parser.add_argument("--root", help="container root instead of /opt/ml (the local backend's temp dir)")
    parser.add_argument(
        "--layout",
        choices=["auto", "tar", "dir"],
        default="auto",
        help="model.tar.gz in the model folder (tar) or the files themselves for SageMaker to pack (dir); "
        "auto: dir when TRAINING_JOB_ARN is set",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    configure_logging(os.environ.get("RUN_ID"))
    paths = ContainerPaths.resolve(args.root)
    stop = StopRequest()

    def on_sigterm(signum: int, _frame: object) -> None:
        stop.request(f"signal {signal.Signals(signum).name} (Spot interruption or StopTrainingJob)")

    signal.signal(signal.SIGTERM, on_sigterm)
    from mlops_training.job import run_job

    try:
        run_job(
            paths,
            heartbeat=heartbeat_from_env(os.environ),
            stop=stop,
            layout=args.layout,
            started=started,
        )
    except (
        ConfigError,
        DatasetError,
        HubTokenError,
        TrainingInterrupted,
        TrainingDiverged,
        WorkflowGaveUp,
    ) as exc:
        return fail(paths, str(exc))
    except Exception as exc:
        log.error("training failed:\n%s", traceback.format_exc())
        return fail(paths, f"{type(exc).__name__}: {exc}")
    return EXIT_OK


def fail(paths: ContainerPaths, reason: str) -> int:
    log.error(reason)
    paths.write_failure(reason)
    return EXIT_FAILED

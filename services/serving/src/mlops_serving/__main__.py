"""`python -m mlops_serving serve`: what SageMaker runs (`docker run <image> serve`) and what the
local serving backend starts as a process."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from mlops_contracts.logs import configure_logging
from mlops_serving.app import create_app
from mlops_serving.artifact import ArtifactError, locate
from mlops_serving.settings import ServingSettings
from mlops_serving.vllm_engine import load_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-serving", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.parse_args(argv)
    configure_logging()
    settings = ServingSettings()
    try:
        served = locate(settings.model_dir, base_model=settings.base_model)
    except ArtifactError as exc:
        print(f"mlops-serving: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, lambda: load_engine(served, engine=settings.engine, device=settings.device))
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

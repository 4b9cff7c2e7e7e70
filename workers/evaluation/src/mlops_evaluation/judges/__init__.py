"""The judge port: `build_judge(settings)` gives the adapter JUDGE names (bedrock or local)."""

from __future__ import annotations

from mlops_evaluation.judges.base import Judge, Prices, Usage
from mlops_evaluation.settings import EvaluationSettings


def build_judge(settings: EvaluationSettings) -> Judge:
    if settings.judge == "local":
        from mlops_evaluation.judges.local import build_local_judge

        return build_local_judge(settings)
    from mlops_evaluation.judges.bedrock import build_bedrock_judge

    return build_bedrock_judge(settings)


__all__ = ["Judge", "Prices", "Usage", "build_judge"]

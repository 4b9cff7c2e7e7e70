"""`python -m mlops_evaluation` - one task, and a local scoring tool. The queue's consumer is the
image's runner (`python -m mlops_sqs_runtime.runner --mapping evaluation`), on Fargate too.

run [--message JSON | --message-file PATH]
                                   one task (default: the EVALUATION_TASK environment variable,
                                   e.g. from an ECS RunTask override)
job [--root DIR] [--message-file PATH]
                                   the evaluation job (a SageMaker Processing job's container, or
                                   EVALUATION_BACKEND=local's subprocess): the task from
                                   DIR/input/task/task.json (default /opt/ml/processing)
score --dataset PATH --model-id ID [--artifact URI] [--threshold X]
                                   evaluate without a workflow: print the summary JSON (no token,
                                   no API, no S3 rows)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mlops_contracts.status import TaskType
from mlops_evaluation.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlops_evaluation", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run one evaluation task")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--message", help="the task as JSON")
    source.add_argument("--message-file", type=Path)

    job = commands.add_parser("job", help="the evaluation job's entrypoint (SageMaker Processing layout)")
    job.add_argument("--root", type=Path, default=None, help="default: /opt/ml/processing")
    job.add_argument("--message-file", type=Path, default=None, help="default: /opt/ml/output/message")

    score = commands.add_parser("score", help="evaluate a model on a dataset and print the summary")
    score.add_argument("--dataset", required=True, help="eval JSONL: local path or s3:// URI")
    score.add_argument("--model-id", required=True, help="base model: hub id, local dir or s3:// URI")
    score.add_argument("--artifact", default=None, help="training artifact (model.tar.gz or a directory)")
    score.add_argument("--threshold", type=float, default=None)
    score.add_argument("--rows", type=Path, default=None, help="also write the per-sample rows here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        from mlops_contracts.logs import configure_logging
        from mlops_evaluation.handler import process_message

        configure_logging()
        body = args.message or (args.message_file.read_text() if args.message_file else None)
        body = body or os.environ.get("EVALUATION_TASK")
        if not body:
            print("give the task with --message, --message-file or EVALUATION_TASK", file=sys.stderr)
            return 2
        result = process_message(body)
        print(json.dumps({"result": result}))
        return 0
    if args.command == "job":
        from mlops_contracts.logs import configure_logging
        from mlops_evaluation.job import MESSAGE_FILE, PROCESSING_ROOT, run_job

        configure_logging()
        return run_job(args.root or PROCESSING_ROOT, args.message_file or MESSAGE_FILE)
    from mlops_evaluation.messages import EvaluationTask
    from mlops_evaluation.worker import evaluate

    task = EvaluationTask(
        task_token="local",  # noqa: S106 - no workflow waits on a local scoring
        run_id=1,
        model_name="local",
        model_id=args.model_id,
        task_type=TaskType.FINETUNE if args.artifact else TaskType.EVAL_ONLY,
        artifact_uri=str(Path(args.artifact).resolve())
        if args.artifact and "://" not in args.artifact
        else args.artifact,
        eval_dataset_uri=str(Path(args.dataset).resolve()) if "://" not in args.dataset else args.dataset,
        ml_score_threshold=args.threshold,
    )
    settings = get_settings()
    outcome = evaluate(task, settings)
    if args.rows is not None:
        args.rows.write_text("".join(json.dumps(r.row()) + "\n" for r in outcome.results))
    print(json.dumps(outcome.summary(settings), indent=2))
    return 0 if outcome.verdict is not None else 1


if __name__ == "__main__":
    sys.exit(main())

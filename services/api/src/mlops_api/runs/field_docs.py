"""Descriptions and examples of the runs domain's schema fields, for the OpenAPI document (#22:
every field of the public schemas says what it is and shows a value). One table rather than a
`Field(description=..., examples=...)` on each of the same names repeated across the run models;
a field that sets its own keeps it."""

from __future__ import annotations

from typing import Any

from mlops_api.schemas import documented

FIELD_DOCS: dict[str, tuple[str, Any]] = {
    # hyperparameters
    "epochs": ("Passes over the train dataset", 3),
    "batch_size": ("Sequences per device step", 4),
    "gradient_accumulation_steps": ("Steps whose gradients are summed before an update", 1),
    "learning_rate": ("AdamW's peak learning rate", 0.0002),
    "lora_r": ("Rank of the LoRA adapters", 16),
    "lora_alpha": ("LoRA scaling numerator (the adapters are scaled by alpha / r)", 32),
    "lora_dropout": ("Dropout on the adapters' input", 0.05),
    "max_seq_length": ("Tokens per training sequence; longer rows are truncated", 1024),
    "warmup_ratio": ("Share of the steps with a rising learning rate", 0.03),
    "seed": ("Random seed (reproducibility)", 42),
    "max_runtime_seconds": ("The training job is stopped after this", 3600),
    "instance_type": ("The training instance the run is sized against", "ml.g5.2xlarge"),
    "qlora": ("4-bit NF4 base weights (bitsandbytes, CUDA only), LoRA on top", False),
    "gradient_checkpointing": ("Recompute activations in backward: far less memory, ~30% more compute", True),
    # a run
    "id": ("The run's id", 42),
    "model_name": ("Registry package group name: letters, digits and hyphens", "mistral-7b-rag-qa"),
    "model_id": (
        "The base model: a hub id, an s3:// URI or an absolute local path",
        "mistralai/Mistral-7B-v0.1",
    ),
    "task_type": ("finetune (train, then evaluate) or eval_only", "finetune"),
    "experiment_name": ("Groups runs for comparison (the MLflow experiment)", "rag-qa-finetune"),
    "status": ("Where the run is in its life (the transition table)", "awaiting_approval"),
    "train_dataset_id": ("The train dataset; null for eval_only", 1),
    "eval_dataset_id": ("The eval dataset", 2),
    "hyperparameters": ("Fine-tuning settings, defaults filled in", {"epochs": 3, "learning_rate": 0.0002}),
    "ml_score_threshold": ("The MLScore the run needs to be put to an approver", 0.7),
    "execution_arn": (
        "The workflow execution that owns the run",
        "arn:aws:states:eu-west-1:123456789012:execution:mlops-release:run-42",
    ),
    "status_reason": ("Why the run has its status (a failure's cause, a rejection's reason)", None),
    "created_by": ("The API key or person that launched the run", "operator-ci"),
    "created_at": ("When the row was created (RFC 3339)", "2026-12-07T04:00:00Z"),
    "updated_at": ("When the row last changed (RFC 3339)", "2026-12-07T04:05:00Z"),
    "started_at": ("When the workflow started the run", "2026-12-07T04:00:02Z"),
    "finished_at": ("When the run reached a terminal status", None),
    "tags": ("People's labels on the run", ["baseline"]),
    "note": ("A person's free-text note on the run", "first run on the new data"),
    "timeline": ("The run's steps, oldest first", []),
    "results": ("Result summaries per stage (training, evaluation)", []),
    # timeline steps and results
    "event_type": ("What happened", "run.status_changed"),
    "previous_status": ("The status before a status change", "evaluating"),
    "reason": ("Why (free text)", "MLScore 0.82 >= 0.7"),
    "source": ("Who recorded it: the API, a worker's role", "projector"),
    "event_id": ("The id of the event that caused it; a repeated id is a no-op", "9b2f0c1e-run-42-training"),
    "data": ("Details of the step", {}),
    "occurred_at": ("When it happened (RFC 3339)", "2026-12-07T04:03:00Z"),
    "recorded_at": ("When the API recorded it", "2026-12-07T04:03:01Z"),
    "stage": ("training or evaluation", "evaluation"),
    "metrics": ("The stage's figures (losses, RAGAS scores, URIs of its files)", {"faithfulness": 0.91}),
    "ml_score": ("The evaluation's MLScore, 0 to 1", 0.82),
    "passed": ("True when the MLScore reached the threshold", True),
    # pages, claims, cancels, samples
    "items": ("This page's entries", []),
    "next_cursor": ("Pass as `cursor` to get the next page; null on the last page", 17),
    "claimed": ("True for the execution that owns the run", True),
    "samples_uri": (
        "Where the rows are stored",
        "s3://mlops-model-outputs/mistral-7b-rag-qa/run-42/samples.jsonl",
    ),
    "total": ("Rows in the file", 200),
    "truncated": ("True when only the first `limit` rows are returned", False),
}


# `json_schema_extra` of the run models
fill = documented(FIELD_DOCS)

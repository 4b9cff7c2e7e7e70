"""The names inside a training artifact (`model.tar.gz`), which training writes
(mlops_training.artifacts) and the evaluation worker and the serving container read."""

ARCHIVE_NAME = "model.tar.gz"
METADATA_NAME = "metadata.json"  # base model, dataset sha256, hyperparameters, metrics, prompt format
METRICS_NAME = "metrics.json"  # beside the archive, for the dispatcher
ADAPTER_DIR = "adapter"  # the LoRA adapter (peft save_pretrained) + the tokenizer
MERGED_DIR = "merged"  # optional (merge_weights): base weights with the adapter merged + tokenizer

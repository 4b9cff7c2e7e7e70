"""The training worker: the SageMaker-contract LoRA fine-tuning entrypoint (`python -m
mlops_training`), and the dispatcher and completion handlers of the release workflow (`dispatch`)."""

"""Where an evaluation task runs: a SageMaker Processing job (sagemaker.py) or the same container
entrypoint as a subprocess (local.py); docs/decisions/0020-evaluation-as-a-processing-job.md."""

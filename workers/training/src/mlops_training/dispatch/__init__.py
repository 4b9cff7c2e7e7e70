"""Training dispatch: the training queue's consumer starts the job (locally or on SageMaker) and the
task token of the release workflow is answered when the job ends (docs/decisions/0002-one-asl-template.md)."""

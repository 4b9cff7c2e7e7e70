"""The serving container: an approved candidate answering requests (SageMaker's inference contract)."""

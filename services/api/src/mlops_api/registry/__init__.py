"""Read-only view of the SageMaker Model Registry (package group = model name, DESIGN 1.5)."""

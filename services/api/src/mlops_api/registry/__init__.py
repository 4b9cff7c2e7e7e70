"""Read-only view of the SageMaker Model Registry (package group = model name,
docs/decisions/0011-domain-facts.md)."""

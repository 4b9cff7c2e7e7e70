"""The local stack that runs without Docker and without AWS (docs/decisions/0009-local-stack.md)."""

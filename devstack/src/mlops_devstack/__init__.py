"""The local stack that runs without Docker and without AWS (DESIGN section 4)."""

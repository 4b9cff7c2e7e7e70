"""The platform's HTTP API: system of record for runs (DESIGN D5)."""

"""The platform's HTTP API: system of record for runs (docs/decisions/0005-system-of-record.md)."""

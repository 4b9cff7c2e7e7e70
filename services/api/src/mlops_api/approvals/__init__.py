"""Human approval of a run: pending approvals (the workflow's task token, kept server-side),
decisions through the API, the dashboard or a signed link, and the append-only audit trail
(docs/decisions/0008-security.md)."""

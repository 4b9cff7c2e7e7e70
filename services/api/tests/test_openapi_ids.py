"""Every operation has an explicit, unique operationId: the route function's name."""

from __future__ import annotations

from collections import Counter

import pytest

from mlops_api.app import create_app

pytestmark = pytest.mark.unit


def test_operation_ids_are_the_route_names_and_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://user:secret@localhost:5432/mlops")
    schema = create_app().openapi()  # the schema is built without starting the app (no database)
    operations = {
        (method.upper(), path): op["operationId"]
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    duplicates = [name for name, n in Counter(operations.values()).items() if n > 1]
    assert duplicates == []
    assert operations[("POST", "/runs")] == "create_run"
    assert operations[("GET", "/runs")] == "list_runs"
    assert operations[("GET", "/runs/{run_id}")] == "get_run"
    assert operations[("POST", "/datasets")] == "upload_dataset"
    assert operations[("POST", "/runs/{run_id}/approve")] == "approve"
    assert not [name for name in operations.values() if name.endswith(("_get", "_post", "_patch", "_put"))]


def test_every_field_of_every_public_schema_has_a_description_and_an_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole OpenAPI document, so a new schema without them fails here (#22)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://user:secret@localhost:5432/mlops")
    components = create_app().openapi()["components"]["schemas"]
    undocumented = {
        name: [
            field
            for field, spec in schema.get("properties", {}).items()
            if not spec.get("description") or not (spec.get("examples") or "example" in spec)
        ]
        for name, schema in components.items()
    }
    assert {name: fields for name, fields in undocumented.items() if fields} == {}
    # the schemas of every domain are in the document (the check above is not vacuous)
    for name in [
        "RunOut",
        "DatasetOut",
        "ModelVersionOut",
        "ApprovalOut",
        "AuditEntryOut",
        "ApiKeyCreated",
        "WhoAmI",
        "DeploymentOut",
        "InvokeIn",
        "Health",
        "ErrorResponse",
        "Body_upload_dataset",
    ]:
        assert components[name]["properties"], name

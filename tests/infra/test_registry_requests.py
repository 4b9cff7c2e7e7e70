"""The release workflow's registry requests are ones AWS accepts (#18): package versions take no tags
(the verdict goes into CustomerMetadataProperties), only the package group does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "terraform" / "templates" / "release_workflow.asl.json"


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])


def _tasks(action: str) -> dict[str, dict[str, Any]]:
    definition = json.loads(re.sub(r"\$\{(\w+)\}", "0", TEMPLATE.read_text()))
    return {
        name: state["Parameters"]
        for name, state in _states(definition["States"])
        if state.get("Resource") == f"arn:aws:states:::aws-sdk:sagemaker:{action}"
    }


def test_no_package_version_is_tagged() -> None:
    tagged = {name: p.get("ResourceArn.$") or p.get("ResourceArn") for name, p in _tasks("addTags").items()}
    assert not [name for name, arn in tagged.items() if "model_package_arn" in str(arn)]
    [created] = _tasks("createModelPackage").values()
    assert "ModelPackageGroupName.$" in created
    assert "Tags" not in created  # "you cannot supply a tag argument" with a group name
    assert set(created["CustomerMetadataProperties"]) >= {
        "run_id.$",
        "lifecycle.$",
        "validation",
        "ml_score_threshold.$",
    }


def test_every_verdict_is_written_by_the_update_that_sets_the_approval_status() -> None:
    updates = _tasks("updateModelPackage")
    assert set(updates) >= {
        "RejectPackage",
        "ApprovePackage",
        "RejectPackageManually",
        "RejectFailedCandidate",
    }
    for name, parameters in updates.items():
        assert parameters["ModelApprovalStatus"] in ("Approved", "Rejected"), name
        assert "deployment_status" in parameters["CustomerMetadataProperties"], name

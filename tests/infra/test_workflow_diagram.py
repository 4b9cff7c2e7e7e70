"""The README's workflow diagram is generated from the ASL template and must not drift from it."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_devstack.asl_diagram import to_mermaid

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "terraform" / "templates" / "release_workflow.asl.json"


def test_readme_diagram_matches_the_template() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(
        r"<!-- workflow-diagram:start -->\n```mermaid\n(.*?)```\n<!-- workflow-diagram:end -->", readme, re.S
    )
    assert found, "the README lost its workflow diagram markers"
    assert found.group(1) == to_mermaid(TEMPLATE), (
        "regenerate it: python -m mlops_devstack.asl_diagram terraform/templates/release_workflow.asl.json"
    )


def test_diagram_shows_every_state_and_branch() -> None:
    diagram = to_mermaid(TEMPLATE)
    for state in (
        "StartTraining",
        "StartEvaluation",
        "WaitForHumanApproval",
        "AutoReject",
        "Approve",
        "ManualReject",
    ):
        assert state in diagram
    assert "CheckMLScore --> EmitEvalPassed : evaluation.passed == true" in diagram
    assert "WaitForHumanApproval --> ApprovalTimedOut : catch States.Timeout" in diagram

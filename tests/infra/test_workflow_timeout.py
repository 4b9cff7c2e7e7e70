"""The release workflow has an overall timeout: the specification's 7 days (issue #18). Without it an
execution whose task never answers waits forever (a Step Functions execution may run a year)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "terraform" / "templates" / "release_workflow.asl.json"
SEVEN_DAYS = 7 * 24 * 3600


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(re.sub(r"\$\{(\w+)\}", "0", TEMPLATE.read_text()))
    return loaded


def states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        if "Iterator" in state or "ItemProcessor" in state:
            yield from states(state.get("ItemProcessor") or state["Iterator"])


def test_the_workflow_times_out_after_seven_days() -> None:
    assert definition()["TimeoutSeconds"] == SEVEN_DAYS


def test_no_fixed_state_timeout_outlasts_the_workflow() -> None:
    fixed = {
        name: s["TimeoutSeconds"]
        for name, s in states(definition())
        if isinstance(s.get("TimeoutSeconds"), int)
    }
    assert fixed  # the template has fixed timeouts to compare
    assert {name: seconds for name, seconds in fixed.items() if seconds >= SEVEN_DAYS} == {}

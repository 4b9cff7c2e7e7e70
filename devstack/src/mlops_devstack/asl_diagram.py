"""Render an ASL state machine as a Mermaid state diagram (GitHub renders Mermaid in Markdown), so
the README's picture of the release workflow is generated from the template, never drawn by hand.

`python -m mlops_devstack.asl_diagram terraform/templates/release_workflow.asl.json`
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any]:
    # Terraform placeholders (${name}) stand where numbers go: make the text parse as JSON.
    text = re.sub(r"\$\{(\w+)\}", "0", path.read_text())
    loaded: dict[str, Any] = json.loads(text)
    return loaded


_OPERATORS = {
    "LessThanEquals": "<=",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "GreaterThan": ">",
    "Equals": "==",
}


def _choice_label(rule: dict[str, Any]) -> str:
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for op, value in rule.items():
        if op in ("Variable", "Next"):
            continue
        symbol = next((sym for suffix, sym in _OPERATORS.items() if op.endswith(suffix)), op)
        return f"{variable} {symbol} {json.dumps(value)}".replace('"', "'")
    return variable


def _edges(name: str, state: dict[str, Any]) -> list[tuple[str, str, str]]:
    edges: list[tuple[str, str, str]] = []
    if state["Type"] == "Choice":
        edges += [(name, rule["Next"], _choice_label(rule)) for rule in state.get("Choices", [])]
        if "Default" in state:
            edges.append((name, state["Default"], "otherwise"))
    if "Next" in state:
        edges.append((name, state["Next"], ""))
    for catch in state.get("Catch", []):
        edges.append((name, catch["Next"], "catch " + ", ".join(catch["ErrorEquals"])))
    if state.get("End") or state["Type"] in ("Succeed", "Fail"):
        edges.append((name, "[*]", ""))
    return edges


def _render(machine: dict[str, Any], indent: str, lines: list[str]) -> None:
    lines.append(f"{indent}[*] --> {machine['StartAt']}")
    for name, state in machine["States"].items():
        if state["Type"] == "Parallel":
            lines.append(f"{indent}state {name} {{")
            for i, branch in enumerate(state["Branches"]):
                if i:
                    lines.append(f"{indent}    --")
                _render(branch, indent + "    ", lines)
            lines.append(f"{indent}}}")
        elif state["Type"] == "Choice":
            lines.append(f"{indent}state {name} <<choice>>")
        for source, target, label in _edges(name, state):
            lines.append(f"{indent}{source} --> {target}" + (f" : {label}" if label else ""))


def to_mermaid(path: Path) -> str:
    lines = ["stateDiagram-v2", "    direction TB"]
    _render(_load(path), "    ", lines)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(to_mermaid(Path(sys.argv[1])))

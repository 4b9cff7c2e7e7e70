"""examples/launch_wait_compare.ipynb runs against the local stack (nbclient, a real kernel): the
SDK launches two runs through the release workflow, waits for them and compares them."""

from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from mlops_testkit.release import Release

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "launch_wait_compare.ipynb"


def test_the_notebook_runs_against_the_local_stack(
    release: Release, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model_name = f"notebook-{uuid.uuid4().hex[:6]}"
    for name, value in {
        "MLOPS_API_URL": release.api.base_url,
        "MLOPS_API_KEY": release.keys["operator"],
        "MLOPS_TRAIN_DATASET_ID": str(release.datasets["train"]),
        "MLOPS_EVAL_DATASET_ID": str(release.datasets["eval"]),
        "MLOPS_MODEL_NAME": model_name,
        "MLOPS_WAIT_SECONDS": "120",
    }.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = {
        index: "".join(
            str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
            for o in cell.get("outputs", [])
        )
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    text = "\n".join(outputs.values())
    assert "awaiting_approval" in text  # both runs waited for through the workflow
    assert "0.82" in text  # the (simulated) evaluation's MLScore, in the comparison
    assert "best run:" in text
    with release.client("viewer") as viewer:
        runs = viewer.get("/runs", params={"model_name": model_name}).json()["items"]
    assert sorted(r["hyperparameters"]["learning_rate"] for r in runs) == [1e-4, 3e-4]


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_ci_example_is_actionlint_clean() -> None:
    import shutil
    import subprocess
    import sys

    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert actionlint, "actionlint is not installed (make setup)"
    workflow = NOTEBOOK.parent / "ci" / "evaluate-on-dataset-change.yml"
    linted = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr

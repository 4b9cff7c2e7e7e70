"""`make bench-eval-gpu` on a machine without a GPU says so and exits 0; its measuring code runs
(a tiny shape on CPU, --cpu-smoke) so the script is known to work before GPU time is spent on it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_eval_gpu.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_eval_gpu", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_so_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _bench().main([]) == 0
    assert "no CUDA GPU on this machine - nothing measured" in capsys.readouterr().out


def test_the_cpu_smoke_measures_both_paths_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows_file = tmp_path / "rows.json"
    argv = [
        "--cpu-smoke",
        "--prompts",
        "6",
        "--new-tokens",
        "4",
        "--batch-size",
        "3",
        "--baseline-prompts",
        "2",
    ]
    assert _bench().main([*argv, "--json", str(rows_file)]) == 0
    rows = json.loads(rows_file.read_text())
    assert [(r["path"], r["answers"]) for r in rows] == [
        ("ours (batched, batch 3)", 6),
        ("plain (one prompt at a time)", 2),
    ]
    assert all(r["answers_per_s"] > 0 for r in rows)
    assert "speed-up" in capsys.readouterr().out

"""Candidate inference (base model + LoRA adapter from the training artifact) and `JUDGE=local`
scoring, end to end on the tiny model, fully offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from mlops_contracts.prompts import PromptFormat, clip_prompt, render_prompt
from mlops_evaluation.__main__ import main
from mlops_evaluation.candidate import Candidate, CandidateError, fetch_candidate
from mlops_evaluation.engine import Sample, score_samples
from mlops_evaluation.judges.local import build_local_judge
from mlops_evaluation.settings import EvaluationSettings

pytestmark = pytest.mark.integration  # scores with the tiny model end to end (tens of seconds)


def test_candidate_is_base_model_plus_adapter(
    tiny_model: Path, artifact: Path, tmp_path: Path, eval_rows: list[dict[str, Any]], prompt_template: str
) -> None:
    files = fetch_candidate(str(tiny_model), str(artifact), tmp_path)
    assert files.adapter_dir is not None
    assert (files.adapter_dir / "adapter_config.json").exists()
    assert files.adapter_dir.name == "adapter"
    assert files.tokenizer_dir == str(files.adapter_dir)
    # prompted as in training (metadata.json): the template, BOS first, no tokenizer defaults
    assert files.prompt_format == PromptFormat(kind="qa", template=prompt_template, bos=True)

    tuned = Candidate(files, device="cpu")
    base = Candidate(fetch_candidate(str(tiny_model), None, tmp_path), device="cpu")
    assert base.files.prompt_format == PromptFormat()  # eval_only: the training worker's QA template
    questions = [r["question"] for r in eval_rows]
    contexts = [r["contexts"] for r in eval_rows]
    prompts = tuned.prompt_ids(questions, contexts)
    first = render_prompt(prompt_template, questions[0], contexts[0])
    assert prompts[0] == [
        tuned.tokenizer.bos_token_id,
        *tuned.tokenizer(first, add_special_tokens=False)["input_ids"],
    ]

    ids = torch.tensor([prompts[0]])
    with torch.inference_mode():
        assert not torch.allclose(tuned.model(input_ids=ids).logits, base.model(input_ids=ids).logits)

    answers = tuned.generate(prompts, batch_size=3, max_new_tokens=8, max_input_tokens=256)
    assert len(answers) == len(prompts)
    assert all(isinstance(a, str) for a in answers)
    # batching and left padding do not change a greedy answer
    alone = tuned.generate(prompts[1:2], batch_size=1, max_new_tokens=8, max_input_tokens=256)
    assert alone[0] == answers[1]
    # a prompt over the input limit keeps BOS and its end (the question and the answer cue)
    assert clip_prompt(prompts[0], 5, tuned.tokenizer.bos_token_id) == [prompts[0][0], *prompts[0][-4:]]


def test_artifact_without_adapter_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    import tarfile

    archive = tmp_path / "model.tar.gz"
    (tmp_path / "readme.txt").write_text("no adapter here")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    with pytest.raises(CandidateError, match="no LoRA adapter"):
        fetch_candidate(str(tiny_model), str(archive), tmp_path / "work")


def test_local_judge_measures_grounding_and_relevance() -> None:
    judge = build_local_judge(EvaluationSettings())
    context = "The Eiffel Tower stands in Paris, France."
    good = Sample(
        "Where is the Eiffel Tower?", [context, "Bananas are rich in potassium."], "It is in Paris.", context
    )
    bad = Sample(
        "Where is the Eiffel Tower?",
        ["Bananas are rich in potassium.", context],
        "It is in Paris.",
        "Quarterly revenue of the bakery grew by ten percent.",
    )
    good_result, bad_result = score_samples([good, bad], judge, concurrency=2, timeout=60)

    assert good_result.scored
    assert bad_result.scored
    g, b = good_result.scores, bad_result.scores
    assert g["faithfulness"] == 1.0
    assert b["faithfulness"] == 0.0
    assert g["answer_relevancy"] > b["answer_relevancy"] + 0.3  # type: ignore[operator]
    # the relevant context first (1.0) or second (1/2): RAGAS' average precision
    assert g["context_precision"] == pytest.approx(1.0)
    assert b["context_precision"] == pytest.approx(0.5)
    assert g["context_recall"] == b["context_recall"] == 1.0
    assert set(good_result.extra) == {"semantic_similarity", "non_llm_string_similarity"}
    assert good_result.extra["semantic_similarity"] > bad_result.extra["semantic_similarity"]  # type: ignore[operator]


def test_local_scoring_end_to_end_on_the_tiny_model(
    tiny_model: Path,
    artifact: Path,
    eval_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_settings: None,
    eval_rows: list[dict[str, Any]],
) -> None:
    monkeypatch.setenv("JUDGE", "local")
    monkeypatch.setenv("WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("MAX_NEW_TOKENS", "12")
    rows_file = tmp_path / "rows.jsonl"

    code = main(
        [
            "score",
            "--dataset",
            str(eval_file),
            "--model-id",
            str(tiny_model),
            "--artifact",
            str(artifact),
            "--threshold",
            "0.0",
            "--rows",
            str(rows_file),
        ]
    )

    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["error"] is None
    assert summary["passed"] is True  # threshold 0
    assert (summary["samples"], summary["scored_samples"], summary["coverage"]) == (4, 4, 1.0)
    assert set(summary["scores"]) == {
        "faithfulness",
        "answer_relevancy",
        "context_precision",
        "context_recall",
    }
    assert all(0.0 <= v <= 1.0 for v in summary["scores"].values())
    assert 0.0 <= summary["ml_score"] <= 1.0
    assert summary["judge"]["kind"] == "local"
    assert summary["cost_usd"] == 0.0
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert [r["question"] for r in rows] == [r["question"] for r in eval_rows]
    assert all(r["scored"] and r["error"] is None and isinstance(r["answer"], str) for r in rows)
    # the context recall of a row depends only on its contexts and ground truth: all supported here
    assert all(r["context_recall"] == 1.0 for r in rows)

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from mlops_devstack.tiny_model import build_tiny_model

TEXTS = [
    "LoRA adds low-rank adapters to frozen weights.",
    "RAGAS scores faithfulness, answer relevancy, context precision and context recall.",
] * 20


def test_builds_a_model_that_loads_through_from_pretrained(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "tiny", TEXTS)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = tokenizer("LoRA adds adapters", return_tensors="pt")
    assert tokenizer.decode(ids["input_ids"][0]) == "LoRA adds adapters"
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], tokenize=False
    )
    assert chat == "<s>[USER] hi [/USER]hello</s>"
    assert sum(p.numel() for p in model.parameters()) < 500_000


def test_second_build_reuses_the_saved_model(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "tiny", TEXTS)
    weights = next(path.glob("*.safetensors"))
    mtime = weights.stat().st_mtime_ns
    assert build_tiny_model(path, TEXTS) == path
    assert weights.stat().st_mtime_ns == mtime
    build_tiny_model(path, [*TEXTS, "new text"])  # different texts: rebuilt
    assert weights.stat().st_mtime_ns != mtime

"""Candidate answer generation on a GPU: the evaluation worker's batched path
(mlops_evaluation.candidate.Candidate.generate: prompts sorted by length, left-padded batches,
one `generate` per batch) vs a plain one-prompt-at-a-time `generate` loop, side by side.

    make bench-eval-gpu                      # 0.5B and 7B shapes, bf16, 200 prompts, 128 new tokens
    python workers/evaluation/bench/bench_eval_gpu.py --shapes qwen2.5-0.5b --batch-size 64

Both sides use the same model (built from a config: random weights, no download), the same 200
prompts (token ids of RAG-like lengths, uniform in [200, 600]) and greedy decoding of exactly 128 new
tokens (no end-of-sequence token, so random weights cannot stop early). Reported per shape and path:
answers/s, wall seconds and peak GPU memory (torch.cuda.max_memory_allocated), and the speed-up of
the batched path over the plain loop (target: at least 5x). The plain loop is timed on the first
`--baseline-prompts` prompts (default 32; its answers/s is a steady rate, and the full 200 would take
many minutes for the 7B shape); the batched path answers all 200.

Without a CUDA GPU the script says so and exits 0 (no figure is made up): this repository's machines
have none, so no figures are recorded here yet. `--cpu-smoke` runs a tiny shape on CPU to check the
script itself (figures meaningless).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "libs" / "src"))

SHAPES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {
        "model_type": "qwen2",
        "vocab_size": 151936,
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
        "max_position_embeddings": 32768,
    },
    "mistral-7b": {
        "model_type": "mistral",
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "tie_word_embeddings": False,
        "max_position_embeddings": 32768,
    },
    "tiny": {  # --cpu-smoke only
        "model_type": "llama",
        "vocab_size": 512,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
        "max_position_embeddings": 2048,
    },
}


def _tokenizer(vocab_size: int) -> Any:
    """A word-level tokenizer over the whole vocabulary: pad is id 0 and there is no end-of-sequence
    token, so every answer is exactly max_new_tokens long on both paths."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(vocab_size)}
    core = Tokenizer(WordLevel(vocab, unk_token="t1"))  # noqa: S106 (a token's name, not a secret)
    core.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="t0", unk_token="t1")  # type: ignore[no-untyped-call]  # noqa: S106
    tokenizer.padding_side = "left"
    return tokenizer


def _prompts(count: int, vocab_size: int, lengths: tuple[int, int], seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(2, vocab_size) for _ in range(rng.randint(*lengths))] for _ in range(count)]


def _candidate(model: Any, tokenizer: Any, device: str) -> Any:
    """The worker's Candidate around a model built here (its loader reads files from disk)."""
    from mlops_evaluation.candidate import Candidate, CandidateFiles

    candidate = Candidate.__new__(Candidate)
    candidate.files = CandidateFiles(base_model="random-weights")
    candidate.device = device
    candidate.tokenizer = tokenizer
    candidate.model = model
    return candidate


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def plain_loop(model: Any, prompts: list[list[int]], new_tokens: int, device: str) -> list[int]:
    """The baseline: one prompt at a time, no padding."""
    import torch

    lengths = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = torch.tensor([prompt], device=device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=0,
                eos_token_id=None,
            )
            lengths.append(out.shape[1] - ids.shape[1])
    return lengths


def bench_shape(name: str, args: argparse.Namespace, device: str) -> list[dict[str, Any]]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = dict(SHAPES[name])
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype).eval()  # type: ignore[no-untyped-call]
    model.generation_config.eos_token_id = None
    tokenizer = _tokenizer(config.vocab_size)
    lengths = (200, 600) if name != "tiny" else (20, 60)
    prompts = _prompts(args.prompts, config.vocab_size, lengths, seed=0)
    candidate = _candidate(model, tokenizer, device)
    rows: list[dict[str, Any]] = []

    # warm-up: kernels, allocator
    candidate.generate(prompts[:2], batch_size=2, max_new_tokens=4, max_input_tokens=args.max_input_tokens)
    plain_loop(model, prompts[:1], 4, device)

    _peak_reset(device)
    _sync(device)
    started = time.perf_counter()
    answers = candidate.generate(
        prompts,
        batch_size=args.batch_size,
        max_new_tokens=args.new_tokens,
        max_input_tokens=args.max_input_tokens,
    )
    _sync(device)
    batched_s = time.perf_counter() - started
    assert len(answers) == len(prompts)
    rows.append(
        {
            "shape": name,
            "path": f"ours (batched, batch {args.batch_size})",
            "answers": len(prompts),
            "seconds": batched_s,
            "answers_per_s": len(prompts) / batched_s,
            "peak_gib": _peak_gib(device),
        }
    )

    baseline = prompts[: args.baseline_prompts]
    _peak_reset(device)
    _sync(device)
    started = time.perf_counter()
    generated = plain_loop(model, baseline, args.new_tokens, device)
    _sync(device)
    plain_s = time.perf_counter() - started
    assert generated == [args.new_tokens] * len(baseline), "the plain loop stopped early"
    rows.append(
        {
            "shape": name,
            "path": "plain (one prompt at a time)",
            "answers": len(baseline),
            "seconds": plain_s,
            "answers_per_s": len(baseline) / plain_s,
            "peak_gib": _peak_gib(device),
        }
    )
    del model, candidate
    if device == "cuda":
        torch.cuda.empty_cache()
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'shape':<14} {'path':<30} {'answers':>7} {'seconds':>8} {'answers/s':>10} {'peak GiB':>9} {'speed-up':>9}"
    ]
    plain = {r["shape"]: r["answers_per_s"] for r in rows if r["path"].startswith("plain")}
    for r in rows:
        peak = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.1f}"
        speedup = r["answers_per_s"] / plain[r["shape"]] if r["shape"] in plain else float("nan")
        lines.append(
            f"{r['shape']:<14} {r['path']:<30} {r['answers']:>7} {r['seconds']:>8.1f} "
            f"{r['answers_per_s']:>10.2f} {peak:>9} {speedup:>8.1f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="qwen2.5-0.5b,mistral-7b")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="GENERATION_BATCH_SIZE of the GPU job")
    parser.add_argument("--baseline-prompts", type=int, default=32)
    parser.add_argument("--max-input-tokens", type=int, default=2048)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shape on CPU: checks the script only")
    args = parser.parse_args(argv)

    import torch

    if args.cpu_smoke:
        device, shapes = "cpu", ["tiny"]
    elif not torch.cuda.is_available():
        print(
            "bench-eval-gpu: no CUDA GPU on this machine - nothing measured (it compares answer generation "
            "on a GPU). Run it where `torch.cuda.is_available()`; `--cpu-smoke` checks the script on CPU."
        )
        return 0
    else:
        device, shapes = "cuda", [s.strip() for s in args.shapes.split(",") if s.strip()]
        unknown = [s for s in shapes if s not in SHAPES or s == "tiny"]
        if unknown:
            parser.error(f"unknown shape(s) {', '.join(unknown)}; known: qwen2.5-0.5b, mistral-7b")
        print(f"GPU: {torch.cuda.get_device_name()} (torch {torch.__version__})")
    print(
        f"{args.prompts} prompts, {args.new_tokens} new tokens each, greedy, "
        f"{'bf16' if device == 'cuda' else 'fp32 (cpu smoke)'}; plain loop on the first {args.baseline_prompts}"
    )
    rows: list[dict[str, Any]] = []
    for name in shapes:
        rows.extend(bench_shape(name, args, device))
        print(_table(rows), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-loop benchmark: the worker's loop vs the plain recipe (HF Trainer + peft LoRA), side by side.

Same model shape built from a config (random weights, no download), same LoRA (r=16, alpha=32,
dropout 0.05, every linear layer), bf16, sequences of 1024 tokens, same synthetic tokens. Reported
per (shape, recipe): tokens/s (real tokens only: padding is never counted), MFU, peak GPU memory,
and the speed-up and memory ratio against the plain recipe.

    make bench-training                                   # both shapes, plain vs ours, dense workload
    python workers/training/bench/bench_training.py --workload sft --recipes plain,ours,ours-eager

Workloads:
  dense  every example is exactly 1024 tokens and every token is trained: no padding for either
         recipe, so this isolates the loop and its kernels (and matches how the issue's plain-recipe
         figures were taken: ~8,600 tok/s for the 7B shape at batch 4, ~38,000 for 0.5B at batch 8).
  sft    what the platform trains on: lengths uniform in [128, 1024], the first 75 % of each
         example a prompt (masked). Both recipes take `batch` examples a step (the worker's
         batch counts examples, packed or not): the plain recipe pads them to the longest
         (DataCollatorForSeq2Seq-style); ours packs them into rows.

Recipes: plain | ours (the worker's defaults) | ours-eager (no torch.compile) | ours-noliger |
ours-sdpa (no flash-attn). Each (shape, recipe) runs in its own process: Liger patches modules
globally and compiled graphs must not leak between runs.

MFU counts useful model FLOPs per real token: 4 x (frozen linear weights, LM head included; LoRA
needs activation gradients but no weight gradients) + 6 x (LoRA weights) + causal attention
(6 x layers x width x sequence length), over the GPU's dense bf16 peak (H100/H200 SXM: 989 TFLOP/s;
--peak-tflops overrides).

Not measured yet: this repository's CPU machines have no GPU. Without CUDA the script says so and
exits 0 (no figures are made up). `--cpu-smoke` runs a tiny shape on CPU to check the script itself.

On the lent GPU machine (its python3 has torch, transformers, peft, accelerate, triton; not
pydantic nor liger-kernel), carry wheels as the device README describes, e.g. pydantic,
pydantic-core, annotated-types, typing-inspection and liger-kernel (flash-attn only if a wheel
matches that machine's torch/CUDA), then:
    PYTHONPATH=/tmp/site:workers/training/src:libs/src python3 workers/training/bench/bench_training.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SEQ = 1024

SHAPES: dict[str, dict[str, Any]] = {
    "mistral-7b": {
        "family": "mistral",
        "batch": 4,
        "config": {
            "vocab_size": 32000,
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "max_position_embeddings": 32768,
            "sliding_window": None,
            "tie_word_embeddings": False,
        },
    },
    "0.5b": {  # the Qwen2-0.5B shape
        "family": "qwen2",
        "batch": 8,
        "config": {
            "vocab_size": 151936,
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_theta": 1_000_000.0,
            "tie_word_embeddings": True,
        },
    },
    "tiny": {  # --cpu-smoke only
        "family": "mistral",
        "batch": 2,
        "config": {
            "vocab_size": 512,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "tie_word_embeddings": False,
        },
    },
}

RECIPES: dict[str, dict[str, str]] = {
    "plain": {},
    "ours": {},
    "ours-eager": {"torch_compile": "false"},
    "ours-noliger": {"liger_kernels": "false"},
    "ours-sdpa": {"attn_implementation": "sdpa"},
}
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}


# --- child: one (shape, recipe) ------------------------------------------------------------------


def synthetic_examples(workload: str, count: int, seq: int, vocab: int, seed: int) -> list[tuple[Any, int]]:
    """(token ids, prompt length) pairs; identical for every recipe given the seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = seq if workload == "dense" else int(rng.integers(seq // 8, seq + 1))
        prompt = 0 if workload == "dense" else int(n * 0.75)
        out.append((rng.integers(10, vocab, size=n, dtype=np.int64), prompt))
    return out


def build_model(shape: dict[str, Any], device: Any, dtype: Any, attn: str) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(shape["family"], **shape["config"])
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    model.config.use_cache = False
    return model


def flops_per_token(model: Any, n_layers: int, width: int, lengths: list[int]) -> float:
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    frozen = sum(
        m.weight.numel()
        for name, m in base.named_modules()
        if isinstance(m, torch.nn.Linear) and "lora_" not in name
    )
    lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    attention = 6 * n_layers * width * sum(n * n for n in lengths) / max(sum(lengths), 1)
    return 4 * frozen + 6 * lora + attention


def run_plain(
    args: argparse.Namespace, shape: dict[str, Any], device: Any, examples: list[Any]
) -> dict[str, Any]:
    import tempfile

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    cuda = device.type == "cuda"
    model = build_model(shape, device, torch.bfloat16 if cuda else torch.float32, "sdpa")
    model = get_peft_model(
        model,
        LoraConfig(
            r=LORA["r"],
            lora_alpha=LORA["alpha"],
            lora_dropout=LORA["dropout"],
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    rows = [
        {"input_ids": ids.tolist(), "labels": [-100] * prompt + ids[prompt:].tolist()}
        for ids, prompt in examples
    ]
    batch_tokens: list[int] = []
    batch_lengths: list[list[int]] = []

    def collate(features: list[dict[str, list[int]]]) -> dict[str, Any]:
        """Pad to the longest example of the batch (as DataCollatorForSeq2Seq does)."""
        longest = max(len(f["input_ids"]) for f in features)
        longest = -(-longest // 8) * 8
        ids = torch.zeros((len(features), longest), dtype=torch.long)
        labels = torch.full((len(features), longest), -100, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            mask[i, :n] = 1
        batch_tokens.append(int(mask.sum()))
        batch_lengths.append([len(f["input_ids"]) for f in features])
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, *_: Any, **__: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=shape["batch"],
            learning_rate=2e-4,
            lr_scheduler_type="cosine",
            warmup_steps=1,  # (no effect on throughput)
            max_steps=total,
            bf16=cuda,
            logging_steps=10**6,
            save_strategy="no",
            report_to=[],
            remove_unused_columns=False,
            seed=args.seed,
            disable_tqdm=True,
            use_cpu=not cuda,
        )
        trainer = Trainer(
            model=model, args=training_args, train_dataset=rows, data_collator=collate, callbacks=[Timer()]
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    measured = slice(args.warmup, total)
    lengths = [n for batch in batch_lengths[measured] for n in batch]
    return {
        "tokens": sum(batch_tokens[measured]),
        "seconds": times[total - 1] - times[args.warmup - 1],
        "flops_per_token": flops_per_token(
            model, shape["config"]["num_hidden_layers"], shape["config"]["hidden_size"], lengths
        ),
        "features": f"Trainer, sdpa, optim={getattr(training_args.optim, 'value', training_args.optim)}",
    }


def run_ours(
    args: argparse.Namespace, shape: dict[str, Any], device: Any, examples: list[Any], recipe: str
) -> dict[str, Any]:
    import numpy as np
    import torch

    from mlops_training.config import Hyperparameters
    from mlops_training.data import IGNORE_INDEX, Example
    from mlops_training.loop import LoraTrainer, StepInfo, StopRequest, TrainingInterrupted
    from mlops_training.modeling import prepare_for_training, resolve_attention

    cuda = device.type == "cuda"
    hp = Hyperparameters(
        epochs=1,
        batch_size=shape["batch"],
        lora_r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        max_seq_length=args.seq,
        seed=args.seed,
        checkpoint_steps=0,
        logging_steps=100_000,
        gradient_checkpointing=False,  # as the plain recipe (the worker's default turns it on)
        **RECIPES[recipe],
    )
    attn = resolve_attention(hp, device)
    model = build_model(shape, device, torch.bfloat16 if cuda else torch.float32, attn)
    prepared = prepare_for_training(model, hp, device, attn)
    ours = []
    for ids, prompt in examples:
        targets = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
        targets[max(prompt, 1) - 1 : -1] = ids[max(prompt, 1) :]
        ours.append(Example(input_ids=ids, targets=targets, source=("synthetic", 0)))
    total = args.warmup + args.steps
    stop = StopRequest()
    times: list[float] = []

    def on_step(info: StepInfo) -> None:
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter())
        if info.step >= total:
            stop.request("benchmark steps done")

    trainer = LoraTrainer(
        prepared.model,
        ours,
        hp,
        device=device,
        loss=prepared.loss,
        pad_id=0,
        stop=stop,
        on_step=on_step,
        static_shapes=prepared.compiled,
    )
    if trainer.total_steps < total:
        raise SystemExit(f"not enough synthetic rows: {trainer.total_steps} steps < {total}")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(TrainingInterrupted):
        trainer.train()
    measured = range(args.warmup, total)
    lengths = [len(ours[i]) for s in measured for mb in trainer.micro_batches(s) for i in mb]
    return {
        "tokens": sum(lengths),
        "seconds": times[total - 1] - times[args.warmup - 1],
        "flops_per_token": flops_per_token(
            prepared.model, shape["config"]["num_hidden_layers"], shape["config"]["hidden_size"], lengths
        ),
        "features": f"{attn}, liger={prepared.liger}, compile={prepared.compiled}, packing",
    }


def child(args: argparse.Namespace) -> None:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu_smoke else "cpu")
    shape = SHAPES[args.shape]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    total = args.warmup + args.steps
    # both recipes eat `batch` examples a step (ours packs them into rows): the same tokens per step
    count = total * shape["batch"] + 4 * shape["batch"]
    examples = synthetic_examples(args.workload, count, args.seq, shape["config"]["vocab_size"], args.seed)
    try:
        if args.recipe == "plain":
            result = run_plain(args, shape, device, examples)
        else:
            result = run_ours(args, shape, device, examples, args.recipe)
        if device.type == "cuda":
            result["peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
            result["gpu"] = torch.cuda.get_device_name()
    except torch.cuda.OutOfMemoryError:
        result = {"error": "out of GPU memory"}
    print("RESULT " + json.dumps({"shape": args.shape, "recipe": args.recipe, **result}), flush=True)


# --- parent: runs the children and prints the table ----------------------------------------------


def table(results: list[dict[str, Any]], peak_tflops: float | None, workload: str, cpu_smoke: bool) -> str:
    lines = []
    title = (
        "CPU SMOKE RUN (checks the script; not a benchmark)"
        if cpu_smoke
        else f"workload={workload}, seq={SEQ}"
    )
    lines.append(f"training-loop benchmark: {title}")
    if results and results[0].get("gpu"):
        lines.append(f"GPU: {results[0]['gpu']}; MFU against {peak_tflops} TFLOP/s dense bf16")
    header = f"{'shape':<11} {'recipe':<13} {'batch':>5} {'tokens/s':>10} {'MFU':>6} {'peak GB':>8} {'speed-up':>9} {'mem':>6}  features"
    lines += [header, "-" * len(header)]
    plain = {r["shape"]: r for r in results if r["recipe"] == "plain" and "error" not in r}
    for r in results:
        batch = SHAPES[r["shape"]]["batch"]
        if "error" in r:
            lines.append(f"{r['shape']:<11} {r['recipe']:<13} {batch:>5} {r['error']}")
            continue
        tps = r["tokens"] / r["seconds"]
        mfu = f"{tps * r['flops_per_token'] / (peak_tflops * 1e12):.1%}" if peak_tflops else "n/a"
        peak = r.get("peak_gb")
        base = plain.get(r["shape"])
        speedup = f"{tps / (base['tokens'] / base['seconds']):.2f}x" if base else "-"
        mem = f"{peak / base['peak_gb']:.2f}x" if base and peak and base.get("peak_gb") else "-"
        peak_text = f"{peak:.1f}" if peak is not None else "-"
        lines.append(
            f"{r['shape']:<11} {r['recipe']:<13} {batch:>5} {tps:>10.0f} {mfu:>6} {peak_text:>8} {speedup:>9} {mem:>6}  {r['features']}"
        )
    return "\n".join(lines)


def gpu_peak_tflops(name: str) -> float | None:
    for key, tflops in (("H100", 989.0), ("H200", 989.0), ("A100", 312.0), ("L40S", 362.0), ("A10G", 125.0)):
        if key in name:
            return tflops
    return None


def parent(args: argparse.Namespace) -> int:
    import torch

    if not torch.cuda.is_available() and not args.cpu_smoke:
        print(
            "bench-training: no CUDA GPU on this machine, so nothing was measured. The comparison "
            "(worker loop vs HF Trainer + peft, Mistral-7B and 0.5B shapes, bf16, seq 1024) runs on a "
            "GPU machine: see this script's docstring."
        )
        return 0
    shapes = (
        args.shapes.split(",") if args.shapes else (["tiny"] if args.cpu_smoke else ["mistral-7b", "0.5b"])
    )
    recipes = args.recipes.split(",")
    unknown = [s for s in shapes if s not in SHAPES] + [r for r in recipes if r not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown shape or recipe: {unknown}")
    results = []
    for shape in shapes:
        for recipe in recipes:
            command = [
                sys.executable,
                __file__,
                "--child",
                "--shape",
                shape,
                "--recipe",
                recipe,
                "--workload",
                args.workload,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
                "--seq",
                str(args.seq),
                "--seed",
                str(args.seed),
            ] + (["--cpu-smoke"] if args.cpu_smoke else [])
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not found:
                tail = (done.stdout + done.stderr)[-3000:]
                print(f"{shape}/{recipe} failed (exit {done.returncode}):\n{tail}", flush=True)
                results.append({"shape": shape, "recipe": recipe, "error": f"failed, exit {done.returncode}"})
                continue
            result = json.loads(found[-1].removeprefix("RESULT "))
            results.append(result)
            print(f"{shape}/{recipe}: done in {time.perf_counter() - started:.0f}s", flush=True)
    gpu = next((r.get("gpu") for r in results if r.get("gpu")), None)
    peak = args.peak_tflops or (gpu_peak_tflops(gpu) if gpu else None)
    report = table(results, peak, args.workload, args.cpu_smoke)
    print(report)
    out = os.environ.get("OUT")
    if out:
        Path(out, "bench_training.json").write_text(json.dumps(results, indent=1))
        Path(out, "bench_training.txt").write_text(report + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shapes", help="comma list of " + ",".join(SHAPES))
    parser.add_argument("--recipes", default="plain,ours", help="comma list of " + ",".join(RECIPES))
    parser.add_argument("--workload", choices=["dense", "sft"], default="dense")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps (compilation, autotuning)")
    parser.add_argument("--seq", type=int, default=SEQ)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peak-tflops", type=float, help="GPU dense bf16 peak for MFU")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shape on CPU: checks the script only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--recipe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())

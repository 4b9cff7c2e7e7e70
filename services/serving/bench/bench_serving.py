"""`make bench-serving`: the serving container under 8 and 32 concurrent clients - our server
(dynamic batching, mlops_serving) beside a plain server that answers one request at a time with
transformers' `generate` - on the same model in the same process, side by side in one run.

Both servers listen on real ports (uvicorn) and are driven over HTTP by the same asyncio clients,
each client sending its next request as soon as the last one is answered. Both share one loaded
model, prompt the same questions the same way (greedy, the same number of new tokens), so what
differs is only how concurrent requests reach the model. Target: at least 3x the plain server's
throughput at 32 clients.

Models are built from a config with random weights (throughput does not depend on what the weights
learned) and the offline tokenizer of the development stack: on the CPU a small Mistral-shaped model
(about 25M parameters: the machine has 2 cores); on a CUDA GPU the 0.5B and 7B shapes in bf16.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from mlops_contracts.prompts import DEFAULT_PROMPT_TEMPLATE, PromptFormat
from mlops_serving.app import create_app
from mlops_serving.artifact import ServedModel
from mlops_serving.engine import TransformersEngine
from mlops_serving.settings import ServingSettings

# hidden, layers, heads, kv heads, intermediate (Mistral-style decoder blocks)
SHAPES = {
    "small": (512, 8, 8, 4, 1408),
    "0.5b": (896, 24, 14, 2, 4864),  # Qwen2.5-0.5B's blocks
    "7b": (4096, 32, 32, 8, 14336),  # Mistral-7B's blocks
}
QUESTIONS = [
    ("What does the platform store runs in?", "Runs are stored in PostgreSQL with their timeline."),
    ("Which service judges the answers?", "Amazon Bedrock hosts the judge model that scores answers."),
    ("What gates a release?", "A weighted MLScore gate fails closed below its threshold."),
    ("Who approves a release?", "A person approves it from a signed link on a Teams card."),
]


def build_model(shape: str, folder: Path, device: str) -> TransformersEngine:
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    from mlops_devstack.tiny_model import build_tiny_model

    tokenizer_dir = build_tiny_model(
        folder / "tokenizer",
        [DEFAULT_PROMPT_TEMPLATE.format(context=c, question=q) + c for q, c in QUESTIONS] * 8,
    )
    hidden, layers, heads, kv_heads, intermediate = SHAPES[shape]
    config = MistralConfig(
        vocab_size=512,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=intermediate,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = MistralForCausalLM(config).to(dtype)
    weights = folder / shape
    model.save_pretrained(weights)
    del model
    served = ServedModel(
        weights=str(weights),
        tokenizer=str(tokenizer_dir),
        metadata={"prompt": {"format": "qa", "template": DEFAULT_PROMPT_TEMPLATE, "bos": True}},
    )
    return TransformersEngine(served, device=device)


class Ask(BaseModel):
    question: str
    contexts: list[str] = []
    max_new_tokens: int = 32


def plain_app(engine: TransformersEngine) -> FastAPI:
    """The baseline: one request at a time, each through its own `generate` call."""
    import torch

    app = FastAPI()
    lock = threading.Lock()
    prompt_format = PromptFormat.from_metadata(engine.served.metadata)

    def answer(body: Ask) -> dict[str, Any]:
        ids = prompt_format.encode(engine.tokenizer, body.question, body.contexts)
        with lock, torch.inference_mode():
            output = engine.model.generate(
                torch.tensor([ids], device=engine.device),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=engine.device),
                max_new_tokens=body.max_new_tokens,
                do_sample=False,
                pad_token_id=engine.tokenizer.pad_token_id,
                eos_token_id=engine.tokenizer.eos_token_id,
            )
        new = output[0, len(ids) :]
        return {
            "answer": engine.tokenizer.decode(new, skip_special_tokens=True),
            "completion_tokens": len(new),
        }

    @app.post("/invocations")
    def invocations(body: Ask) -> dict[str, Any]:  # sync: FastAPI runs it on its thread pool
        return answer(body)

    return app


class Server:
    def __init__(self, app: Any, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Result:
    requests: int
    seconds: float
    latencies: list[float]
    tokens: int

    def row(self, name: str, clients: int) -> str:
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return (
            f"{clients:>7}  {name:<18} {self.requests / self.seconds:>8.2f} {self.tokens / self.seconds:>9.1f}"
            f" {statistics.median(ordered) * 1000:>9.0f} {p99 * 1000:>9.0f}"
        )

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


async def drive(url: str, clients: int, requests: int, max_new_tokens: int) -> Result:
    latencies: list[float] = []
    tokens = 0
    next_index = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index, tokens
        while next_index < requests:
            index, next_index = next_index, next_index + 1
            question, context = QUESTIONS[index % len(QUESTIONS)]
            started = time.perf_counter()
            response = await http.post(
                f"{url}/invocations",
                json={"question": question, "contexts": [context], "max_new_tokens": max_new_tokens},
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            tokens += int(response.json()["completion_tokens"])

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        seconds = time.perf_counter() - started
    return Result(requests, seconds, latencies, tokens)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shapes", nargs="*", help="model shapes (default: small on CPU; 0.5b and 7b on a GPU)"
    )
    parser.add_argument("--clients", nargs="*", type=int, default=[8, 32])
    parser.add_argument("--requests-per-client", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, help="default: 32 on CPU, 128 on a GPU")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shapes = args.shapes or (["0.5b", "7b"] if device == "cuda" else ["small"])
    max_new_tokens = args.max_new_tokens or (128 if device == "cuda" else 32)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"bench-serving on {gpu}: {max_new_tokens} new tokens per request, greedy")
    met = True
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        for shape in shapes:
            engine = build_model(shape, Path(tmp), device)
            settings = ServingSettings(max_batch_size=32, max_wait_ms=5, max_new_tokens_limit=max_new_tokens)
            print(
                f"\nshape {shape}: {sum(p.numel() for p in engine.model.parameters()) / 1e6:.0f}M parameters"
            )
            print(f"{'clients':>7}  {'server':<18} {'req/s':>8} {'tokens/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
            with (
                Server(create_app(settings, lambda e=engine: e), 18081) as ours,
                Server(plain_app(engine), 18082) as plain,
            ):
                asyncio.run(drive(ours.url, 4, 4, 4))  # warm-up: first calls allocate caches
                asyncio.run(drive(plain.url, 1, 2, 4))
                for clients in args.clients:
                    total = clients * args.requests_per_client
                    batched = asyncio.run(drive(ours.url, clients, total, max_new_tokens))
                    baseline = asyncio.run(drive(plain.url, clients, total, max_new_tokens))
                    print(batched.row("mlops-serving", clients))
                    print(baseline.row("plain generate", clients))
                    ratio = batched.throughput / baseline.throughput
                    print(f"{'':>7}  {'ratio':<18} {ratio:>8.2f}x")
                    if clients == 32:
                        met = met and ratio >= 3.0
            del engine
            if device == "cuda":
                torch.cuda.empty_cache()
    print(f"\ntarget (>= 3x the plain server's requests/s at 32 clients): {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench-eval`: RAGAS scoring of 200 samples against a simulated Bedrock judge with a fixed
latency and an RPM/TPM quota - the worker's engine beside `ragas.evaluate` at its defaults, in one run.

Both drive the same judge the same way: ChatBedrockConverse + BedrockEmbeddings (langchain-aws) on a
real botocore client whose Converse / InvokeModel calls a simulated runtime answers (real response
shapes, HTTP 429 ThrottlingException over the quota; see mlops_testkit.simulated_bedrock). Both
score the same four metrics with the same settings (answer_relevancy strictness 3, RAGAS' default),
so both make the same calls; what differs is how they are scheduled:

- ragas.evaluate at its defaults: RunConfig() (16 workers, 10 retries, exponential backoff up to
  60 s, 180 s timeout), the platform's boto3 client (botocore standard retries, 5 attempts);
- the worker: calls paced under the quota, bounded concurrency, jittered backoff on throttling, a
  per-sample timeout (mlops_evaluation.engine / judges.bedrock, default settings + the quota);
- for reference, `ragas.aevaluate` given the concurrency a bigger machine would give it (32 workers,
  36 threads) but no pacing: it reaches the quota by way of throttling errors and retries.

ChatBedrockConverse has no native async: RAGAS runs each call in the event loop's default executor,
min(32, CPUs + 4) threads - 6 on a 2-vCPU Lambda or container - which bounds ragas' defaults.

The quota-bound minimum is the least time the accepted calls need under the quota past its initial
burst: max((requests - burst) / RPS, (tokens - burst) / TPS) + one latency.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
for key, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "eu-west-1",
}.items():
    os.environ.setdefault(key, value)
os.environ.pop("AWS_ENDPOINT_URL", None)  # nothing leaves the process: the simulated runtime answers
warnings.simplefilter("ignore")

from mlops_contracts.aws import aws_client  # noqa: E402
from mlops_evaluation.engine import Sample, fit_concurrency, score_samples  # noqa: E402
from mlops_evaluation.judges.bedrock import build_bedrock_judge  # noqa: E402
from mlops_evaluation.mlscore import EvaluationError, decide, is_scored  # noqa: E402
from mlops_evaluation.settings import DEFAULT_WEIGHTS, METRIC_NAMES, EvaluationSettings  # noqa: E402
from mlops_testkit.simulated_bedrock import SimulatedBedrock  # noqa: E402

TOPICS = [
    ("LoRA", "adds low-rank adapter matrices to the frozen weights of a model", "trains every weight again"),
    ("Amazon S3", "stores objects in buckets with eleven nines of durability", "runs relational databases"),
    ("a tokenizer", "splits text into tokens that a language model reads", "compresses images"),
    ("Step Functions", "orchestrates workflows as state machines", "hosts static websites"),
    ("EventBridge", "routes events between services with rules", "trains machine learning models"),
    ("Bedrock", "serves foundation models through an API", "stores container images"),
    ("SQS", "queues messages between producers and consumers", "renders dashboards"),
    ("RAGAS", "scores retrieval-augmented generation with an LLM judge", "schedules cron jobs"),
]
DISTRACTORS = [
    "The Eiffel Tower stands in Paris.",
    "Bananas are rich in potassium.",
    "The Pacific is the largest ocean.",
    "Mount Everest is the highest mountain.",
]


def make_samples(count: int, seed: int = 7) -> list[Sample]:
    rng = random.Random(seed)
    samples = []
    for i in range(count):
        name, fact, wrong = TOPICS[i % len(TOPICS)]
        relevant = f"{name} {fact}. It is used in case {i}."
        contexts = [relevant, rng.choice(DISTRACTORS)]
        rng.shuffle(contexts)
        second = f"{name} also {wrong}." if rng.random() < 0.3 else f"This helps in case {i}."
        samples.append(
            Sample(
                question=f"What does {name} do in case {i}?",
                contexts=contexts,
                ground_truth=f"{name} {fact}.",
                answer=f"{name} {fact}. {second}",
            )
        )
    return samples


@dataclass
class Row:
    engine: str
    wall: float
    bound: float
    accepted: int
    throttled: int
    unscored: int
    ml_score: float | None


def bench_settings(args: argparse.Namespace, region: str) -> EvaluationSettings:
    return EvaluationSettings(
        BEDROCK_REGION=region,
        JUDGE_RPM=args.rpm,
        JUDGE_TPM=args.tpm,
        ANSWER_RELEVANCY_STRICTNESS=3,  # RAGAS' default, so both engines make the same calls
    )


def ml_score_of(rows: list[dict[str, Any]]) -> float | None:
    try:
        return decide(rows, weights=DEFAULT_WEIGHTS, threshold=0.7, min_coverage=1e-9).ml_score
    except EvaluationError:
        return None


def run_worker(samples: list[Sample], args: argparse.Namespace) -> Row:
    region = "eu-north-1"
    client = aws_client("bedrock-runtime", region=region, max_attempts=1)
    sim = SimulatedBedrock(latency_seconds=args.latency, rpm=args.rpm, tpm=args.tpm)
    sim.attach(client)
    try:
        settings = bench_settings(args, region)
        judge = build_bedrock_judge(settings, runtime_client=client)
        concurrency = fit_concurrency(
            settings.sample_concurrency, settings.sample_timeout_seconds, judge, samples
        )
        started = time.monotonic()
        results = score_samples(
            samples, judge, concurrency=concurrency, timeout=settings.sample_timeout_seconds
        )
        wall = time.monotonic() - started
    finally:
        sim.detach(client)
    rows = [r.scores for r in results if r.scored]
    return Row(
        "worker (paced)",
        wall,
        sim.quota_bound_seconds(),
        sim.accepted,
        sim.throttled,
        len(results) - len(rows),
        ml_score_of(rows),
    )


def run_ragas(samples: list[Sample], args: argparse.Namespace, *, tuned: bool) -> Row:
    """`ragas.evaluate` at its defaults; `tuned`: `ragas.aevaluate` with 32 workers on a loop with 36
    threads (the concurrency a bigger machine would give it), still without pacing."""
    from langchain_aws import BedrockEmbeddings, ChatBedrockConverse
    from ragas import EvaluationDataset, aevaluate, evaluate
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics import answer_relevancy, context_precision, context_recall, faithfulness
    from ragas.run_config import RunConfig

    region = "eu-south-2" if tuned else "eu-south-1"
    client = aws_client("bedrock-runtime", region=region)  # the platform's client: standard retries
    sim = SimulatedBedrock(latency_seconds=args.latency, rpm=args.rpm, tpm=args.tpm)
    sim.attach(client)
    try:
        settings = bench_settings(args, region)
        llm = LangchainLLMWrapper(
            ChatBedrockConverse(
                model_id=settings.judge_model_id,
                region_name=region,
                client=client,
                bedrock_client=aws_client("bedrock", region=region),
                temperature=0,
                max_tokens=settings.judge_max_tokens,
            )
        )
        embeddings = LangchainEmbeddingsWrapper(
            BedrockEmbeddings(
                client=client, model_id=settings.judge_embedding_model_id, region_name=region, normalize=True
            )
        )
        dataset = EvaluationDataset.from_list(
            [
                {
                    "user_input": s.question,
                    "retrieved_contexts": s.contexts,
                    "response": s.answer,
                    "reference": s.ground_truth,
                }
                for s in samples
            ]
        )
        metrics = [faithfulness, answer_relevancy, context_precision, context_recall]
        started = time.monotonic()
        if tuned:
            loop = asyncio.new_event_loop()
            loop.set_default_executor(ThreadPoolExecutor(max_workers=36))
            try:
                result = loop.run_until_complete(
                    aevaluate(
                        dataset,
                        metrics=metrics,
                        llm=llm,
                        embeddings=embeddings,
                        run_config=RunConfig(max_workers=32),
                        show_progress=False,
                    )
                )
            finally:
                loop.close()
        else:
            result = evaluate(dataset, metrics=metrics, llm=llm, embeddings=embeddings, show_progress=False)
        wall = time.monotonic() - started
    finally:
        sim.detach(client)
    frame = result.to_pandas()
    rows = [{name: frame.iloc[i][name] for name in METRIC_NAMES} for i in range(len(frame))]
    scored = [row for row in rows if is_scored(row)]
    return Row(
        "ragas.aevaluate (32 workers)" if tuned else "ragas.evaluate (defaults)",
        wall,
        sim.quota_bound_seconds(),
        sim.accepted,
        sim.throttled,
        len(rows) - len(scored),
        ml_score_of(scored),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per judge call")
    parser.add_argument("--rpm", type=float, default=2400, help="judge requests per minute")
    parser.add_argument("--tpm", type=float, default=1_800_000, help="judge tokens per minute")
    parser.add_argument("--skip-ragas", action="store_true")
    parser.add_argument(
        "--skip-tuned-ragas", action="store_true", help="leave out ragas with 32 workers and 36 threads"
    )
    args = parser.parse_args()

    samples = make_samples(args.samples)
    print(
        f"{args.samples} samples x 4 metrics (2 contexts each, answer_relevancy strictness 3); simulated "
        f"judge: {args.latency:g} s a call, {args.rpm:g} RPM, {args.tpm:,.0f} TPM (1 s burst); "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    rows = [run_worker(samples, args)]
    if not args.skip_ragas:
        rows.append(run_ragas(samples, args, tuned=False))
    if not args.skip_tuned_ragas:
        rows.append(run_ragas(samples, args, tuned=True))

    header = f"{'engine':<28} {'wall s':>8} {'quota-bound s':>14} {'x bound':>8} {'judge calls':>12} "
    header += f"{'throttling errors':>18} {'unscored':>9} {'MLScore':>8}"
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        score = f"{row.ml_score:.4f}" if row.ml_score is not None else "-"
        print(
            f"{row.engine:<28} {row.wall:>8.1f} {row.bound:>14.1f} {row.wall / row.bound:>8.2f} "
            f"{row.accepted:>12} {row.throttled:>18} {row.unscored:>9} {score:>8}"
        )
    worker = rows[0]
    checks = {
        "worker within 1.2x of the quota-bound minimum": worker.wall <= 1.2 * worker.bound,
        "worker: zero unscored samples": worker.unscored == 0,
    }
    if not args.skip_ragas:
        checks["worker faster than ragas.evaluate at its defaults"] = worker.wall < rows[1].wall
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) and not math.isnan(worker.wall) else 1


if __name__ == "__main__":
    sys.exit(main())

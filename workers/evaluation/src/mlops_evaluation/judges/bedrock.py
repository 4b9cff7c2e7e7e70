"""The LLM judge on Amazon Bedrock: RAGAS' faithfulness, answer_relevancy, context_precision and
context_recall, judged by `ChatBedrockConverse` (default Mistral Small, temperature 0) with
`BedrockEmbeddings` (Titan Text Embeddings v2), both through langchain-aws.

Every judge call is paced under the model's quota (QuotaLimiter), bounded in concurrency, retried
with jittered exponential backoff on throttling and other transient errors, and its token usage is
counted for the cost estimate. botocore's own retries are off for this client (one attempt) so that
the limiter sees every throttling error.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from langchain_aws import BedrockEmbeddings, ChatBedrockConverse
from langchain_core.callbacks import Callbacks
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatGeneration, Generation, LLMResult
from langchain_core.prompt_values import PromptValue
from ragas.llms.base import LangchainLLMWrapper
from ragas.run_config import RunConfig
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from mlops_contracts.aws import aws_client
from mlops_evaluation.judges.base import Judge, Prices, Usage
from mlops_evaluation.limiter import QuotaLimiter, RetryPolicy, estimate_tokens, is_throttling, is_transient
from mlops_evaluation.settings import EvaluationSettings

with warnings.catch_warnings():
    # ragas 0.4 marks these imports deprecated in favour of ragas.metrics.collections, whose metrics
    # take only instructor-based LLMs, not a LangChain chat model.
    warnings.simplefilter("ignore", DeprecationWarning)
    from ragas.metrics import AnswerRelevancy, ContextPrecision, ContextRecall, Faithfulness
    from ragas.metrics._answer_relevance import ResponseRelevanceInput

log = logging.getLogger(__name__)
T = TypeVar("T")

# Converse stop reasons of a complete answer; "max_tokens" means the judge's output was cut.
FINISHED_STOP_REASONS = frozenset({"end_turn", "stop_sequence"})


def converse_finished(result: LLMResult) -> bool:
    for generations in result.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                reason = generation.message.response_metadata.get("stopReason")
                if reason is not None and reason not in FINISHED_STOP_REASONS:
                    return False
    return True


class QuotaAwareLLM(LangchainLLMWrapper):
    """ragas' LangChain wrapper, with every call paced, bounded, retried and metered.

    Temperature and `n` are not touched on the shared chat model (ragas would set 0.01/0.3 on it):
    the judge keeps its configured temperature, and n completions are n paced calls.
    """

    def __init__(
        self,
        chat: BaseChatModel,
        *,
        limiter: QuotaLimiter,
        usage: Usage,
        policy: RetryPolicy,
        max_concurrency: int,
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(
                chat,
                run_config=RunConfig(max_retries=1),
                is_finished_parser=converse_finished,
                bypass_temperature=True,
                bypass_n=True,
            )
        self.limiter = limiter
        self.usage = usage
        self.policy = policy
        self.max_concurrency = max_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None

    def set_run_config(self, run_config: RunConfig) -> None:
        # The retries are ours (paced, throttling-aware); ragas' generic retry layer stays at one try.
        run_config.max_retries = 1
        self.run_config = run_config

    def _inflight(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    def _before_sleep(self, state: RetryCallState) -> None:
        self.usage.add(retries=1)
        exc = state.outcome.exception() if state.outcome else None
        log.info("judge call failed (%s), retry %d", type(exc).__name__, state.attempt_number)

    async def agenerate_text(
        self,
        prompt: PromptValue,
        n: int = 1,
        temperature: float | None = 0.01,
        stop: list[str] | None = None,
        callbacks: Callbacks = None,
    ) -> LLMResult:
        generations = await asyncio.gather(*(self._call(prompt, stop, callbacks) for _ in range(n)))
        return LLMResult(generations=[list(generations)])

    async def _call(self, prompt: PromptValue, stop: list[str] | None, callbacks: Callbacks) -> Generation:
        estimated_input = estimate_tokens(prompt.to_string())
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=self.policy.base_seconds, max=self.policy.max_seconds),
            stop=stop_after_attempt(self.policy.max_attempts),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        result: LLMResult | None = None
        reservation = 0
        async for attempt in retrying:
            with attempt:
                reservation = estimated_input + int(self.limiter.expected_output_tokens)
                await self.limiter.acquire(reservation)
                async with self._inflight():
                    try:
                        result = await self.langchain_llm.agenerate_prompt(
                            [prompt], stop=stop, callbacks=callbacks
                        )
                    except Exception as exc:
                        if is_throttling(exc):
                            self.limiter.on_throttled()
                            self.usage.add(throttled=1)
                        raise
        assert result is not None
        generation = result.generations[0][0]
        input_tokens, output_tokens = estimated_input, 0
        if isinstance(generation, ChatGeneration):
            metadata: Any = getattr(generation.message, "usage_metadata", None) or {}
            input_tokens = int(metadata.get("input_tokens", estimated_input))
            output_tokens = int(metadata.get("output_tokens", estimate_tokens(generation.text)))
        self.limiter.settle(reservation, input_tokens + output_tokens, output_tokens)
        self.limiter.on_success()
        self.usage.add(requests=1, input_tokens=input_tokens, output_tokens=output_tokens)
        return generation


class MeteredEmbeddings(Embeddings):
    """Embeddings with retries on transient errors and usage counting (estimated tokens)."""

    def __init__(self, inner: Embeddings, *, usage: Usage, policy: RetryPolicy) -> None:
        self.inner = inner
        self.usage = usage
        self.policy = policy

    def _retry(self, fn: Callable[[], T]) -> T:
        def count_retry(state: RetryCallState) -> None:
            self.usage.add(
                retries=1,
                throttled=int(
                    bool(state.outcome and is_throttling(state.outcome.exception() or Exception()))
                ),
            )

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=self.policy.base_seconds, max=self.policy.max_seconds),
            stop=stop_after_attempt(self.policy.max_attempts),
            before_sleep=count_retry,
            reraise=True,
        )
        return retrying(fn)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self._retry(lambda: self.inner.embed_documents(texts))
        self.usage.add(embedding_requests=len(texts), embedding_tokens=sum(estimate_tokens(t) for t in texts))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector = self._retry(lambda: self.inner.embed_query(text))
        self.usage.add(embedding_requests=1, embedding_tokens=estimate_tokens(text))
        return vector


class ThreadedAnswerRelevancy(AnswerRelevancy):  # type: ignore[misc]
    """ragas' answer_relevancy, with its (blocking) embedding calls moved off the event loop so that
    one sample's embeddings do not stall every other sample's judge calls."""

    async def _ascore(self, row: dict[str, Any], callbacks: Callbacks) -> float:
        assert self.llm is not None, "LLM is not set"
        responses = await self.question_generation.generate_multiple(
            data=ResponseRelevanceInput(response=row["response"]),
            llm=self.llm,
            callbacks=callbacks,
            n=self.strictness,
        )
        score: float = await asyncio.to_thread(self._calculate_score, responses, row)
        return score


def build_bedrock_judge(
    settings: EvaluationSettings,
    *,
    runtime_client: Any = None,
    control_client: Any = None,
) -> Judge:
    """The Bedrock judge. Clients come from the platform's factory unless given (tests pass stubbed ones)."""
    region = settings.judge_region
    if runtime_client is None:
        runtime_client = aws_client(
            "bedrock-runtime",
            region=region,
            max_attempts=1,
            read_timeout=settings.judge_read_timeout_seconds,
        )
    if control_client is None:
        control_client = aws_client("bedrock", region=region)
    usage = Usage()
    policy = RetryPolicy(
        max_attempts=settings.judge_max_attempts,
        base_seconds=settings.judge_backoff_base_seconds,
        max_seconds=settings.judge_backoff_max_seconds,
    )
    limiter = QuotaLimiter(settings.judge_rpm, settings.judge_tpm, burst_seconds=settings.judge_burst_seconds)
    chat = ChatBedrockConverse(
        model_id=settings.judge_model_id,
        region_name=region,
        client=runtime_client,
        bedrock_client=control_client,
        temperature=settings.judge_temperature,
        max_tokens=settings.judge_max_tokens,
    )
    llm = QuotaAwareLLM(
        chat, limiter=limiter, usage=usage, policy=policy, max_concurrency=settings.judge_max_concurrency
    )
    embeddings = MeteredEmbeddings(
        BedrockEmbeddings(
            client=runtime_client,
            model_id=settings.judge_embedding_model_id,
            region_name=region,
            normalize=True,
        ),
        usage=usage,
        policy=policy,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.embeddings.base import LangchainEmbeddingsWrapper

        ragas_embeddings = LangchainEmbeddingsWrapper(embeddings)
    metrics = [
        Faithfulness(llm=llm),
        ThreadedAnswerRelevancy(
            llm=llm, embeddings=ragas_embeddings, strictness=settings.answer_relevancy_strictness
        ),
        ContextPrecision(llm=llm),
        ContextRecall(llm=llm),
    ]
    return Judge(
        kind="bedrock",
        metrics=metrics,
        usage=usage,
        prices=Prices(
            input_per_1k=settings.judge_input_usd_per_1k,
            output_per_1k=settings.judge_output_usd_per_1k,
            embedding_per_1k=settings.embedding_usd_per_1k,
        ),
        description={
            "model_id": settings.judge_model_id,
            "embedding_model_id": settings.judge_embedding_model_id,
            "region": region,
            "temperature": settings.judge_temperature,
            "rpm": settings.judge_rpm,
            "tpm": settings.judge_tpm,
            "answer_relevancy_strictness": settings.answer_relevancy_strictness,
        },
        max_threads=settings.judge_max_concurrency + 8,
        # a judge prompt with its answer is about 1,000 tokens: the tighter of the two quotas binds
        rate_per_second=min(settings.judge_rpm, settings.judge_tpm / 1000) / 60,
        # statements + verdicts, the generated questions, one verdict per context, the attributions
        calls_per_sample=lambda contexts: 3 + settings.answer_relevancy_strictness + contexts,
    )

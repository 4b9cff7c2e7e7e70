"""The Bedrock judge (ChatBedrockConverse + BedrockEmbeddings through langchain-aws) against botocore
Stubber with real Converse / InvokeModel response shapes, through a full RAGAS scoring of samples.

Calls are stubbed in the order RAGAS makes them for one sample: faithfulness (statements, then
verdicts), answer_relevancy (a generated question, then the embeddings of the question and of the
generated question), context_precision (one verdict per context), context_recall (attributions).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from langchain_core.prompt_values import StringPromptValue

from mlops_contracts.aws import aws_client
from mlops_evaluation.engine import Sample, score_samples
from mlops_evaluation.judges.bedrock import build_bedrock_judge
from mlops_evaluation.mlscore import EvaluationError, decide
from mlops_evaluation.settings import EvaluationSettings

MODEL_ID = "mistral.mistral-small-2402-v1:0"
EMBEDDING_MODEL_ID = "amazon.titan-embed-text-v2:0"
REGION = "eu-west-1"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "stub")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stub")
    # a client of its own (the factory caches clients): region "us-west-2" is used by no other test
    client = aws_client("bedrock-runtime", region="us-west-2", max_attempts=1)
    stubber = Stubber(client)
    with stubber:
        yield client, stubber
    stubber.assert_no_pending_responses()


def converse_expected() -> dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "messages": ANY,
        "system": [],
        "inferenceConfig": {"maxTokens": 1024, "temperature": 0.0},
    }


def add_converse(
    stubber: Stubber, answer: dict[str, Any], input_tokens: int = 900, output_tokens: int = 60
) -> None:
    """A real Converse response shape."""
    stubber.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": json.dumps(answer)}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 412},
            "ResponseMetadata": {"RequestId": "8d5c0c8f-0e6a-4a1a-9f0e-5d4c3b2a1f00", "HTTPStatusCode": 200},
        },
        converse_expected(),
    )


def add_throttle(stubber: Stubber, operation: str = "converse") -> None:
    stubber.add_client_error(
        operation,
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
    )


def add_embedding(stubber: Stubber, text: str, vector: list[float]) -> None:
    """A real InvokeModel response shape for Titan Text Embeddings v2."""
    payload = json.dumps(
        {"embedding": vector, "embeddingsByType": {"float": vector}, "inputTextTokenCount": len(text.split())}
    ).encode()
    stubber.add_response(
        "invoke_model",
        {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"},
        {
            "modelId": EMBEDDING_MODEL_ID,
            "body": json.dumps({"inputText": text}),
            "accept": "application/json",
            "contentType": "application/json",
        },
    )


def stub_sample(
    stubber: Stubber,
    *,
    question: str,
    statements: list[str],
    verdicts: list[int],
    generated: str,
    question_vector: list[float],
    generated_vector: list[float],
    context_verdicts: list[int],
    attributions: list[int],
    throttle_before_precision: bool = False,
) -> None:
    add_converse(stubber, {"statements": statements})
    add_converse(
        stubber,
        {
            "statements": [
                {"statement": s, "reason": "r", "verdict": v}
                for s, v in zip(statements, verdicts, strict=True)
            ]
        },
    )
    add_converse(stubber, {"question": generated, "noncommittal": 0})
    add_embedding(stubber, question, question_vector)
    add_embedding(stubber, generated, generated_vector)
    for verdict in context_verdicts:
        if throttle_before_precision:
            add_throttle(stubber)
            throttle_before_precision = False
        add_converse(stubber, {"reason": "r", "verdict": verdict})
    add_converse(
        stubber,
        {
            "classifications": [
                {"statement": f"s{i}", "reason": "r", "attributed": a} for i, a in enumerate(attributions)
            ]
        },
    )


def judge_settings(**overrides: Any) -> EvaluationSettings:
    values: dict[str, Any] = {
        "BEDROCK_REGION": "us-west-2",
        "JUDGE_BACKOFF_BASE_SECONDS": 0.01,
        "JUDGE_BACKOFF_MAX_SECONDS": 0.02,
        "JUDGE_RPM": 60_000,
        "JUDGE_TPM": 60_000_000,
    }
    values.update(overrides)
    return EvaluationSettings(**values)


SAMPLE_A = Sample(
    question="What does LoRA add?",
    contexts=["LoRA adds low-rank adapters.", "Paris is in France."],
    ground_truth="LoRA adds low-rank adapters to frozen weights.",
    answer="LoRA adds adapters. It retrains every weight.",
)
SAMPLE_B = Sample(
    question="Where is the Eiffel Tower?",
    contexts=["Berlin is in Germany.", "The Eiffel Tower is in Paris."],
    ground_truth="In Paris.",
    answer="It is in Paris.",
)


def test_full_ragas_scoring_through_langchain_aws(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    stub_sample(
        stubber,
        question=SAMPLE_A.question,
        statements=["LoRA adds adapters.", "LoRA retrains every weight."],
        verdicts=[1, 0],
        generated="What does LoRA add to a model?",
        question_vector=[1.0, 0.0, 0.0],
        generated_vector=[0.6, 0.8, 0.0],
        context_verdicts=[1, 0],
        attributions=[1, 1, 0],
    )
    stub_sample(
        stubber,
        question=SAMPLE_B.question,
        statements=["The Eiffel Tower is in Paris."],
        verdicts=[1],
        generated="Where is the Eiffel Tower?",
        question_vector=[0.0, 0.0, 2.0],
        generated_vector=[0.0, 0.0, 1.0],
        context_verdicts=[0, 1],
        attributions=[1],
        throttle_before_precision=True,
    )
    judge = build_bedrock_judge(judge_settings(), runtime_client=client)

    results = score_samples([SAMPLE_A, SAMPLE_B], judge, concurrency=1, timeout=60, parallel_metrics=False)

    a, b = results
    assert a.errors == []
    assert b.errors == []
    assert a.scores == pytest.approx(
        {"faithfulness": 0.5, "answer_relevancy": 0.6, "context_precision": 1.0, "context_recall": 2 / 3}
    )
    # the second context is the relevant one: average precision 1/2
    assert b.scores == pytest.approx(
        {"faithfulness": 1.0, "answer_relevancy": 1.0, "context_precision": 0.5, "context_recall": 1.0}
    )
    verdict = decide(
        [r.scores for r in results], weights=judge_settings().mlscore_weights, threshold=0.7, min_coverage=0.9
    )
    assert verdict.scores == {
        "faithfulness": 0.75,
        "answer_relevancy": 0.8,
        "context_precision": 0.75,
        "context_recall": 0.833333,
    }
    assert verdict.ml_score == round(0.3 * 0.75 + 0.2 * 0.8 + 0.25 * 0.75 + 0.25 * 0.833333, 6)
    assert verdict.passed is True
    # usage comes from Converse's `usage`; the throttled call was retried once
    usage = judge.usage.as_dict()
    assert usage["requests"] == 12
    assert (usage["input_tokens"], usage["output_tokens"]) == (12 * 900, 12 * 60)
    assert (usage["throttled"], usage["retries"]) == (1, 1)
    assert usage["embedding_requests"] == 4
    assert judge.cost_usd() == pytest.approx(12 * 900 / 1000 * 0.001 + 12 * 60 / 1000 * 0.003, abs=1e-5)


def test_throttling_then_success_is_retried_with_backoff_and_slows_the_pace(
    runtime: tuple[Any, Stubber],
) -> None:
    client, stubber = runtime
    add_throttle(stubber)
    add_throttle(stubber)
    add_converse(stubber, {"verdict": 1}, input_tokens=10, output_tokens=3)
    judge = build_bedrock_judge(judge_settings(), runtime_client=client)
    llm = judge.metrics[0].llm  # the judge LLM the four metrics share
    assert llm is not None

    result = asyncio.run(llm.generate(StringPromptValue(text="Is the sky blue?")))

    assert json.loads(result.generations[0][0].text) == {"verdict": 1}
    assert judge.usage.as_dict() == {
        "requests": 1,
        "throttled": 2,
        "retries": 2,
        "input_tokens": 10,
        "output_tokens": 3,
        "embedding_requests": 0,
        "embedding_tokens": 0,
    }
    assert llm.limiter.factor < 1.0  # type: ignore[attr-defined]


def test_embedding_throttling_then_success(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    add_throttle(stubber, "invoke_model")
    add_embedding(stubber, "hello", [3.0, 4.0])
    judge = build_bedrock_judge(judge_settings(), runtime_client=client)
    embeddings = judge.metrics[1].embeddings  # answer_relevancy's

    vector = embeddings.embed_query("hello")  # type: ignore[union-attr]

    assert vector == pytest.approx([0.6, 0.8])  # normalized
    assert judge.usage.as_dict()["throttled"] == 1


def test_non_transient_errors_are_not_retried(runtime: tuple[Any, Stubber]) -> None:
    client, stubber = runtime
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
    )
    judge = build_bedrock_judge(judge_settings(), runtime_client=client)
    llm = judge.metrics[0].llm
    assert llm is not None
    with pytest.raises(ClientError, match="AccessDeniedException"):
        asyncio.run(llm.generate(StringPromptValue(text="Is the sky blue?")))
    assert judge.usage.as_dict()["retries"] == 0


def test_judge_giving_no_classifications_leaves_the_sample_unscored(runtime: tuple[Any, Stubber]) -> None:
    """RAGAS' context_recall is NaN without classifications: that sample is unscored, and one
    unscored sample out of two is far below the minimum coverage - an error, not a pass."""
    client, stubber = runtime
    stub_sample(
        stubber,
        question=SAMPLE_B.question,
        statements=["The Eiffel Tower is in Paris."],
        verdicts=[1],
        generated="Where is the Eiffel Tower?",
        question_vector=[0.0, 1.0],
        generated_vector=[0.0, 1.0],
        context_verdicts=[1, 1],
        attributions=[],
    )
    stub_sample(
        stubber,
        question=SAMPLE_B.question,
        statements=["The Eiffel Tower is in Paris."],
        verdicts=[1],
        generated="Where is the Eiffel Tower?",
        question_vector=[0.0, 1.0],
        generated_vector=[0.0, 1.0],
        context_verdicts=[1, 1],
        attributions=[1],
    )
    judge = build_bedrock_judge(judge_settings(), runtime_client=client)

    results = score_samples([SAMPLE_B, SAMPLE_B], judge, concurrency=1, timeout=60, parallel_metrics=False)

    assert results[0].scores["context_recall"] is None
    assert results[0].scored is False
    assert results[0].errors == ["context_recall: not a finite number (nan)"]
    assert results[1].scored is True
    with pytest.raises(EvaluationError) as caught:
        decide(
            [r.scores for r in results],
            weights=judge_settings().mlscore_weights,
            threshold=0.0,
            min_coverage=0.9,
        )
    assert caught.value.code == "Evaluation.CoverageTooLow"


def test_a_hung_judge_call_times_the_sample_out(runtime: tuple[Any, Stubber]) -> None:
    """A Bedrock call that hangs past the per-sample timeout leaves its sample unscored."""
    client, stubber = runtime

    def slow_call(**_: Any) -> None:
        time.sleep(1.5)

    client.meta.events.register("before-parameter-build.bedrock-runtime.Converse", slow_call)
    try:
        add_converse(stubber, {"statements": ["It is in Paris."]})
        judge = build_bedrock_judge(judge_settings(), runtime_client=client)
        started = time.monotonic()
        [result] = score_samples([SAMPLE_B], judge, concurrency=1, timeout=0.5, parallel_metrics=False)
        elapsed = time.monotonic() - started
        time.sleep(1.2)  # let the abandoned call finish before the stubber is checked
    finally:
        client.meta.events.unregister("before-parameter-build.bedrock-runtime.Converse", slow_call)
    assert result.timed_out is True
    assert result.scored is False
    assert result.errors == ["timed out after 0.5s"]
    assert all(v is None for v in result.scores.values())
    assert elapsed < 1.4  # the engine does not wait for the hung call

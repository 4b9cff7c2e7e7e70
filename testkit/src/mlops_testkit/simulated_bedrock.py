"""A simulated Bedrock runtime for benchmarks and tests, never used by the worker.

It plugs into a real botocore `bedrock-runtime` client (the `before-send` event), so the production
path runs unchanged: langchain-aws builds real Converse / InvokeModel requests, botocore parses real
response shapes and raises real `ThrottlingException`s. It answers RAGAS' judge prompts with a
deterministic word-overlap judge, embeds text as hashed bags of words, takes a fixed latency per
call, and enforces a requests-per-minute and tokens-per-minute quota as token buckets refilled
continuously (`burst_seconds` deep). A call over the quota gets HTTP 429 ThrottlingException.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

WORD = re.compile(r"[a-z0-9]+")
SENTENCE = re.compile(r"(?<=[.!?])\s+")
STOPWORDS = frozenset(
    WORD.findall(
        "a an the is are was were be been of to in on for and or with by as at it its this that what which "
        "who how why when does do did from into than then there their they them"
    )
)


def tokens_of(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def overlap(part: str, whole: str) -> float:
    mine = words(part)
    return len(mine & words(whole)) / len(mine) if mine else 0.0


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text.strip()) if s.strip()]


def embed(text: str, dims: int = 64) -> list[float]:
    vector = [0.0] * dims
    for word in words(text) or {text.lower()}:
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _prompt_input(prompt: str) -> dict[str, Any]:
    """The JSON input at the end of a ragas PydanticPrompt: `input: {...}\\nOutput: `."""
    start = prompt.rfind("\ninput: ")
    end = prompt.rfind("\nOutput:")
    if start < 0 or end < start:
        return {}
    try:
        data = json.loads(prompt[start + len("\ninput: ") : end])
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def judge_answer(prompt: str) -> str:
    """A deterministic answer to one of RAGAS' judge prompts (recognised by its output schema)."""
    data = _prompt_input(prompt)
    if '"title": "StatementGeneratorOutput"' in prompt:
        return json.dumps({"statements": sentences(str(data.get("answer", ""))) or ["(empty)"]})
    if '"title": "NLIStatementOutput"' in prompt:
        context = str(data.get("context", ""))
        verdicts = [
            {"statement": s, "reason": "word overlap", "verdict": int(overlap(s, context) >= 0.5)}
            for s in data.get("statements", [])
        ]
        return json.dumps({"statements": verdicts})
    if '"title": "ResponseRelevanceOutput"' in prompt:
        response = str(data.get("response", ""))
        return json.dumps({"question": f"What is {response.rstrip('.')}?", "noncommittal": 0})
    if '"title": "Verification"' in prompt:
        verdict = int(overlap(str(data.get("answer", "")), str(data.get("context", ""))) >= 0.3)
        return json.dumps({"reason": "word overlap", "verdict": verdict})
    if '"title": "ContextRecallClassifications"' in prompt:
        context = str(data.get("context", ""))
        items = [
            {"statement": s, "reason": "word overlap", "attributed": int(overlap(s, context) >= 0.5)}
            for s in sentences(str(data.get("answer", ""))) or ["(empty)"]
        ]
        return json.dumps({"classifications": items})
    return json.dumps({"text": "unrecognised prompt"})


class _Body:
    """The raw body botocore reads from (both `.stream()` for parsing and `.read()` for StreamingBody)."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._buffer.read()

    def read(self, amt: int | None = None) -> bytes:
        return self._buffer.read(amt)


class _Bucket:
    def __init__(self, per_minute: float, burst_seconds: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now


@dataclass
class SimulatedBedrock:
    latency_seconds: float = 0.1
    rpm: float = 3000.0
    tpm: float = 3_000_000.0
    burst_seconds: float = 1.0
    embedding_latency_seconds: float = 0.02
    throttle_latency_seconds: float = 0.005
    slow_prompts: dict[str, float] = field(default_factory=dict)
    """Extra latency (seconds) for prompts that contain a marker, e.g. {"SLOW": 5.0}."""
    accepted: int = 0
    throttled: int = 0
    tokens: int = 0
    embeddings: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._requests = _Bucket(self.rpm, self.burst_seconds)
        self._tokens = _Bucket(self.tpm, self.burst_seconds)

    def attach(self, client: Any) -> Any:
        """Answer every Converse / InvokeModel call of this botocore client. Returns the client."""
        client.meta.events.register("before-send.bedrock-runtime.Converse", self._converse)
        client.meta.events.register("before-send.bedrock-runtime.InvokeModel", self._invoke_model)
        return client

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-send.bedrock-runtime.Converse", self._converse)
        client.meta.events.unregister("before-send.bedrock-runtime.InvokeModel", self._invoke_model)

    def quota_bound_seconds(self) -> float:
        """The least time the accepted calls need under the quota (past the initial burst)."""
        by_requests = max(0.0, self.accepted - self._requests.capacity) / self._requests.rate
        by_tokens = max(0.0, self.tokens - self._tokens.capacity) / self._tokens.rate
        return max(by_requests, by_tokens) + self.latency_seconds

    def _admit(self, tokens: int) -> bool:
        with self._lock:
            now = time.monotonic()
            self._requests.refill(now)
            self._tokens.refill(now)
            if self._requests.level >= 1.0 and self._tokens.level >= min(tokens, self._tokens.capacity):
                self._requests.level -= 1.0
                self._tokens.level -= tokens
                self.accepted += 1
                self.tokens += tokens
                return True
            self.throttled += 1
            return False

    @staticmethod
    def _response(request: Any, status: int, body: bytes, headers: dict[str, str]) -> AWSResponse:
        headers = {"content-type": "application/json", "content-length": str(len(body)), **headers}
        return AWSResponse(request.url, status, headers, _Body(body))

    def _throttle(self, request: Any) -> AWSResponse:
        time.sleep(self.throttle_latency_seconds)
        body = json.dumps({"message": "Too many requests, please wait before trying again."}).encode()
        return self._response(request, 429, body, {"x-amzn-ErrorType": "ThrottlingException"})

    def _converse(self, request: Any, **_: Any) -> AWSResponse:
        payload = json.loads(request.body)
        prompt = "\n".join(
            block.get("text", "")
            for message in payload.get("messages", [])
            for block in message.get("content", [])
        )
        answer = judge_answer(prompt)
        input_tokens, output_tokens = tokens_of(prompt), tokens_of(answer)
        if not self._admit(input_tokens + output_tokens):
            return self._throttle(request)
        time.sleep(
            self.latency_seconds + max((v for k, v in self.slow_prompts.items() if k in prompt), default=0)
        )
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": int(self.latency_seconds * 1000)},
        }
        return self._response(request, 200, json.dumps(body).encode(), {})

    def _invoke_model(self, request: Any, **_: Any) -> AWSResponse:
        payload = json.loads(request.body)
        text = str(payload.get("inputText", ""))
        with self._lock:
            self.embeddings += 1
        time.sleep(self.embedding_latency_seconds)
        vector = embed(text)
        body = {
            "embedding": vector,
            "embeddingsByType": {"float": vector},
            "inputTextTokenCount": tokens_of(text),
        }
        return self._response(
            request,
            200,
            json.dumps(body).encode(),
            {"x-amzn-bedrock-input-token-count": str(tokens_of(text))},
        )

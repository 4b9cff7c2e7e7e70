"""The request and response bodies: SageMaker's `/invocations` and OpenAI's chat completions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_TEXT = 32_000  # characters of one question, context or message


class InvocationRequest(BaseModel):
    """Either a `question` (with its `contexts`), prompted as the model was trained, or raw `inputs`."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(
        default=None, min_length=1, max_length=MAX_TEXT, examples=["What is MLScore?"]
    )
    contexts: list[str] = Field(default_factory=list, max_length=64)
    inputs: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    max_new_tokens: int | None = Field(
        default=None, ge=1, description="default: 128, or SERVING_MAX_NEW_TOKENS_LIMIT when lower"
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stream: bool = Field(default=False, description="server-sent events, one per token")

    @model_validator(mode="after")
    def _one_prompt(self) -> InvocationRequest:
        if (self.question is None) == (self.inputs is None):
            raise ValueError("give exactly one of question (with contexts) or inputs")
        if self.inputs is not None and self.contexts:
            raise ValueError("contexts go with a question, not with raw inputs")
        return self


class InvocationResponse(BaseModel):
    answer: str
    finish_reason: Literal["stop", "length", "cancelled"]
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_TEXT)


class ChatCompletionRequest(BaseModel):
    """The part of OpenAI's chat completions request that a single served model can honour; other
    members OpenAI clients send (user, n=1, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=1, description="one choice per request")
    stream: bool = False

"""The HTTP face of the serving container.

SageMaker's inference contract: `GET /ping` answers 200 once the model is loaded, `POST /invocations`
answers a request, on port 8080. `POST /v1/chat/completions` speaks OpenAI's chat format, so existing
clients (the openai SDK, LangChain) work against an endpoint unchanged. Both stream server-sent
events when asked.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from mlops_serving.batcher import Batcher, Pending, QueueFull
from mlops_serving.engine import GenerationRequest, Sampling
from mlops_serving.schemas import ChatCompletionRequest, InvocationRequest, InvocationResponse
from mlops_serving.settings import ServingSettings


class ServingEngine(Protocol):
    forward_passes: int
    batches: int

    def encode_question(self, question: str, contexts: list[str]) -> list[int]: ...
    def encode_text(self, text: str) -> list[int]: ...
    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]: ...
    def decode(self, token_ids: list[int]) -> str: ...
    def generate(self, requests: list[GenerationRequest], *, max_input_tokens: int) -> Any: ...


class _Detokenizer:
    """Text deltas from a growing token list: a byte-level tokenizer may need the next token to
    finish a character, so a delta ending in U+FFFD waits for it."""

    def __init__(self, engine: ServingEngine) -> None:
        self.engine = engine
        self.ids: list[int] = []
        self.text = ""

    def push(self, token: int) -> str:
        self.ids.append(token)
        text = self.engine.decode(self.ids)
        if text.endswith("\ufffd") or not text.startswith(self.text):
            return ""
        delta, self.text = text[len(self.text) :], text
        return delta


def _sse(payload: dict[str, Any] | str) -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {body}\n\n"


def create_app(settings: ServingSettings, load_engine: Callable[[], ServingEngine]) -> FastAPI:
    """`load_engine` runs at start-up on a thread; `/ping` answers 503 until it returns."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine = await asyncio.to_thread(load_engine)
        batcher = Batcher(
            engine,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queue=settings.max_queue,
            max_input_tokens=settings.max_input_tokens,
        )
        batcher.start()
        state.update(engine=engine, batcher=batcher)
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="mlops-serving", lifespan=lifespan)

    def engine() -> ServingEngine:
        if "engine" not in state:
            raise HTTPException(503, "the model is still loading")
        loaded: ServingEngine = state["engine"]
        return loaded

    def budget(asked: int | None, default: int) -> int:
        """The request's token budget: what it asked for within the limit, else the default (capped)."""
        if asked is None:
            return min(default, settings.max_new_tokens_limit)
        wanted = asked
        if wanted > settings.max_new_tokens_limit:
            raise HTTPException(
                422, f"at most {settings.max_new_tokens_limit} new tokens per request (asked {wanted})"
            )
        return wanted

    def submit(prompt_ids: list[int], max_new_tokens: int, sampling: Sampling) -> Pending:
        try:
            pending: Pending = state["batcher"].submit(
                GenerationRequest(prompt_ids, max_new_tokens, sampling)
            )
        except QueueFull as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
        return pending

    async def deltas(request: Request, pending: Pending) -> AsyncIterator[str]:
        """Text deltas as tokens arrive; a client that leaves cancels its row."""
        detok = _Detokenizer(engine())
        try:
            while (token := await pending.tokens.get()) is not None:
                if delta := detok.push(token):
                    yield delta
        finally:
            if not pending.done.done():
                pending.request.cancelled.set()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        engine()
        return {"status": "ok"}

    @app.get("/metrics/batching")
    async def batching() -> dict[str, int]:
        loaded = engine()
        return {
            "batches": loaded.batches,
            "forward_passes": loaded.forward_passes,
            "queued": state["batcher"].queued,
        }

    @app.post("/invocations", response_model=InvocationResponse)
    async def invocations(body: InvocationRequest, request: Request) -> Any:
        started = time.perf_counter()
        loaded = engine()
        if body.question is not None:
            prompt = loaded.encode_question(body.question, body.contexts)
        else:
            prompt = loaded.encode_text(body.inputs or "")
        pending = submit(prompt, budget(body.max_new_tokens, 128), Sampling(body.temperature, body.top_p))

        def result(completion: Any) -> dict[str, Any]:
            return InvocationResponse(
                answer=loaded.decode(completion.token_ids).strip(),
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=len(completion.token_ids),
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            ).model_dump()

        if not body.stream:
            return JSONResponse(result(await pending.done))

        async def events() -> AsyncIterator[str]:
            async for delta in deltas(request, pending):
                yield _sse({"token": delta})
            yield _sse({"done": True, **result(await pending.done)})

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        loaded = engine()
        try:
            prompt = loaded.encode_chat([m.model_dump() for m in body.messages])
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        pending = submit(
            prompt,
            budget(body.max_completion_tokens or body.max_tokens, 256),
            Sampling(body.temperature, body.top_p),
        )
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        model = body.model or "mlops-candidate"

        def finish(reason: str) -> str:
            return "length" if reason == "length" else "stop"

        if not body.stream:
            completion = await pending.done
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": loaded.decode(completion.token_ids).strip(),
                        },
                        "finish_reason": finish(completion.finish_reason),
                    }
                ],
                "usage": {
                    "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": len(completion.token_ids),
                    "total_tokens": completion.prompt_tokens + len(completion.token_ids),
                },
            }

        def chunk(delta: dict[str, str], reason: str | None) -> str:
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
                }
            )

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""}, None)
            async for delta in deltas(request, pending):
                yield chunk({"content": delta}, None)
            completion = await pending.done
            yield chunk({}, finish(completion.finish_reason))
            yield _sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream")

    return app

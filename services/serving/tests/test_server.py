"""The serving container on the tiny model: the SageMaker contract (/ping, /invocations), prompts
rendered as in training, dynamic batching, token streaming and OpenAI's chat completions."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_contracts.prompts import PromptFormat
from mlops_serving.app import create_app
from mlops_serving.settings import ServingSettings

pytestmark = pytest.mark.integration  # a real server on a port, the tiny model on the CPU


def reference_answer(engine: Any, question: str, contexts: list[str], max_new_tokens: int) -> str:
    """One prompt, greedy, through transformers' own `generate`: what the server must answer."""
    import torch

    ids = PromptFormat.from_metadata(engine.served.metadata).encode(engine.tokenizer, question, contexts)
    with torch.inference_mode():
        output = engine.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=engine.tokenizer.pad_token_id,
            eos_token_id=engine.tokenizer.eos_token_id,
        )
    return str(engine.tokenizer.decode(output[0, len(ids) :], skip_special_tokens=True)).strip()


def test_ping_and_an_answer_prompted_as_in_training(server: str, engine: Any, questions: Any) -> None:
    assert httpx.get(f"{server}/ping").json() == {"status": "ok"}
    question, context = questions[0]
    response = httpx.post(
        f"{server}/invocations",
        json={"question": question, "contexts": [context], "max_new_tokens": 12},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == reference_answer(engine, question, [context], 12)
    expected_prompt = PromptFormat.from_metadata(engine.served.metadata).encode(
        engine.tokenizer, question, [context]
    )
    assert body["prompt_tokens"] == len(expected_prompt)
    assert body["completion_tokens"] <= 12
    assert body["finish_reason"] in ("stop", "length")


def test_the_adapter_is_served_not_the_base_model(
    server: str, engine: Any, tiny_model: Path, questions: Any
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    question, context = questions[1]
    ids = PromptFormat.from_metadata(engine.served.metadata).encode(engine.tokenizer, question, [context])
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    with torch.inference_mode():
        base_logits = base(torch.tensor([ids])).logits[0, -1]
        served_logits = engine.model(torch.tensor([ids])).logits[0, -1]
    assert not torch.allclose(base_logits, served_logits, atol=1e-3)


def test_eight_concurrent_requests_share_forward_passes(server: str, questions: Any) -> None:
    before = httpx.get(f"{server}/metrics/batching").json()

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{server}/invocations",
                        json={
                            "question": questions[i % 4][0],
                            "contexts": [questions[i % 4][1]],
                            "max_new_tokens": 1,
                        },
                    )
                    for i in range(8)
                )
            )

    responses = asyncio.run(ask_all())
    assert [r.status_code for r in responses] == [200] * 8
    assert all(r.json()["completion_tokens"] == 1 for r in responses)
    after = httpx.get(f"{server}/metrics/batching").json()
    # one token each: one request at a time takes 8 forward passes
    assert after["forward_passes"] - before["forward_passes"] < 8
    assert after["batches"] - before["batches"] < 8


def sse_events(response: httpx.Response) -> list[Any]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_streamed_tokens_add_up_to_the_answer(server: str, questions: Any) -> None:
    question, context = questions[2]
    payload = {"question": question, "contexts": [context], "max_new_tokens": 16}
    whole = httpx.post(f"{server}/invocations", json=payload, timeout=60).json()
    with httpx.stream(
        "POST", f"{server}/invocations", json={**payload, "stream": True}, timeout=60
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    tokens = [e["token"] for e in events if "token" in e]
    assert len(tokens) > 1  # token by token, not one block
    assert "".join(tokens).strip() == whole["answer"]
    assert events[-1]["done"] is True
    assert events[-1]["answer"] == whole["answer"]


def test_openai_sdk_chat_completions(server: str, questions: Any) -> None:
    from openai import OpenAI

    question, context = questions[3]
    expected = httpx.post(
        f"{server}/invocations",
        json={"question": question, "contexts": [context], "max_new_tokens": 10},
        timeout=60,
    ).json()["answer"]
    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    messages: Any = [{"role": "system", "content": context}, {"role": "user", "content": question}]
    completion = client.chat.completions.create(
        model="candidate", messages=messages, max_tokens=10, temperature=0
    )
    assert completion.choices[0].message.content == expected
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 10
    stream = client.chat.completions.create(
        model="candidate", messages=messages, max_tokens=10, temperature=0, stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip() == expected
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"question": "q", "inputs": "raw"}, "exactly one of question"),
        ({"inputs": "raw", "contexts": ["c"]}, "contexts go with a question"),
        ({"question": "q", "max_new_tokens": 65}, "at most 64 new tokens"),
        ({"question": "q", "temperature": 3}, "temperature"),
        ({"question": "q", "surprise": 1}, "surprise"),
    ],
)
def test_bad_requests_name_what_is_wrong(server: str, payload: dict[str, Any], names: str) -> None:
    response = httpx.post(f"{server}/invocations", json=payload, timeout=30)
    assert response.status_code == 422
    assert names in response.text


def test_ping_answers_503_until_the_model_is_loaded(engine: Any) -> None:
    loaded = threading.Event()

    def slow_load() -> Any:
        loaded.wait(30)
        return engine

    settings = ServingSettings()
    # uvicorn reports started only after the lifespan, so the app is probed through its ASGI face
    app = create_app(settings, slow_load)

    async def probe() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            before = (await client.get("/ping")).status_code
            loaded.set()
            async with app.router.lifespan_context(app):
                after = (await client.get("/ping")).status_code
        return before, after

    assert asyncio.run(probe()) == (503, 200)


def test_a_full_queue_answers_503_with_retry_after(engine: Any, serve: Any) -> None:
    release = threading.Event()

    class HeldEngine:
        """The real engine, held busy until the test lets it go (a GPU already full of work)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        def generate(self, requests: Any, *, max_input_tokens: int) -> Any:
            release.wait(30)
            return engine.generate(requests, max_input_tokens=max_input_tokens)

    settings = ServingSettings(max_batch_size=1, max_wait_ms=0, max_queue=1)
    with serve(settings, lambda: HeldEngine()) as url:

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                body = {"question": "q", "max_new_tokens": 1}
                first = asyncio.create_task(client.post(f"{url}/invocations", json=body))  # runs, held
                await asyncio.sleep(0.5)
                second = asyncio.create_task(client.post(f"{url}/invocations", json=body))  # waits
                await asyncio.sleep(0.5)
                third = await client.post(f"{url}/invocations", json=body)  # refused
                release.set()
                return [await first, await second, third]

        first, second, third = asyncio.run(flood())
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 503)
    assert third.headers["retry-after"] == "1"
    assert "SERVING_MAX_QUEUE=1" in third.text


def test_a_request_without_a_budget_gets_the_default_within_the_limit(server: str) -> None:
    # the test server's limit is 64, below the default of 128: the default yields to it
    response = httpx.post(f"{server}/invocations", json={"inputs": "Runs are stored in"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["completion_tokens"] <= 64

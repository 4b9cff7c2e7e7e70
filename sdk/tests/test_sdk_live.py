"""The SDK against the live API (testkit's server on a real PostgreSQL and the AWS emulator): no
mocks of the API. Where a test needs a failure of the network, a transport in front of the real one
produces it after the request reached the API."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mlops_client import (
    ApiError,
    AsyncClient,
    Client,
    DatasetInvalid,
    EvalOnlyLaunch,
    FinetuneLaunch,
    RunFailed,
    RunStatus,
    WaitTimeout,
)
from mlops_testkit.api import EVAL_ROW, Clients, jsonl


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting requests by path; `drop_first` answers the first POST /runs
    with a connection error after the API has handled it (the answer is lost on the way back)."""

    def __init__(self, *, drop_first: bool = False) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.drop_first = drop_first

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(f"{request.method} {request.url.path}")
        response = super().handle_request(request)
        if self.drop_first and request.method == "POST" and request.url.path == "/runs":
            self.drop_first = False
            response.read()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


class AsyncDroppingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.posts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.method == "POST" and request.url.path == "/runs":
            self.posts += 1
            if self.posts == 1:
                await response.aread()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


def _client(clients: Clients, role: str = "operator", **options: Any) -> Client:
    return Client(clients.base_url, clients.keys[role], **options)


def _launch_fields(datasets: dict[str, int]) -> dict[str, Any]:
    return {
        "model_name": "sdk-model",
        "model_id": "mistralai/Mistral-7B-v0.1",
        "experiment_name": "sdk",
        "train_dataset_id": datasets["train"],
        "eval_dataset_id": datasets["eval"],
    }


def _run_count(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM pipeline_runs").fetchone()
    assert row is not None
    return int(row[0])


def test_launch_get_and_typed_models(clients: Clients, datasets: dict[str, int]) -> None:
    with _client(clients) as client:
        run = client.runs.launch(FinetuneLaunch(**_launch_fields(datasets), ml_score_threshold=0.8))
        eval_only = client.runs.launch(
            EvalOnlyLaunch(
                model_name="sdk-eval",
                model_id="mistralai/Mistral-7B-v0.1",
                experiment_name="sdk",
                eval_dataset_id=datasets["eval"],
            )
        )
        detail = client.runs.get(run.id)
    assert run.status is RunStatus.PENDING
    assert run.ml_score_threshold == 0.8
    assert eval_only.task_type == "eval_only"
    assert eval_only.train_dataset_id is None
    assert detail.id == run.id
    assert [e.event_type for e in detail.timeline] == ["run.created"]
    assert detail.ml_score is None


def test_list_iterates_over_more_than_one_page_with_filters(
    clients: Clients, datasets: dict[str, int]
) -> None:
    transport = CountingTransport()
    with _client(clients, transport=transport) as client:
        ids = [client.runs.launch(**_launch_fields(datasets)).id for _ in range(5)]
        client.runs.launch(**{**_launch_fields(datasets), "model_name": "other-model"})
        transport.paths.clear()
        listed = [run.id for run in client.runs.list(model_name="sdk-model", page_size=2)]
        assert transport.paths == ["GET /runs"] * 3  # pages of 2, 2 and 1
        limited = [run.id for run in client.runs.list(status="pending", page_size=2, limit=3)]
    assert listed == sorted(ids, reverse=True)  # newest first, each run once
    assert len(limited) == 3
    # an evaluated run's MLScore and verdict come with the list
    with clients.as_("evaluator") as evaluator:
        put = evaluator.put(
            f"/runs/{ids[0]}/results/evaluation", json={"metrics": {}, "ml_score": 0.9, "passed": True}
        )
        assert put.status_code == 200, put.text
    with _client(clients) as client:
        scored = {run.id: (run.ml_score, run.passed) for run in client.runs.list(model_name="sdk-model")}
    assert scored == {ids[0]: (0.9, True), **{i: (None, None) for i in ids[1:]}}


def test_a_dataset_with_bad_lines_raises_naming_the_lines(
    clients: Clients, clean: None, tmp_path: Path
) -> None:
    good = tmp_path / "good-eval.jsonl"
    good.write_bytes(jsonl(EVAL_ROW, EVAL_ROW))
    bad = tmp_path / "bad-eval.jsonl"
    bad.write_bytes(jsonl(EVAL_ROW, {"question": "no contexts"}) + b"not json\n")
    with _client(clients) as client:
        dataset = client.datasets.upload(good, kind="eval")
        with pytest.raises(DatasetInvalid) as refused:
            client.datasets.upload(bad, kind="eval")
        listed = client.datasets.list(kind="eval")
    assert dataset.name == "good-eval"
    assert dataset.row_count == 2
    assert [d.id for d in listed] == [dataset.id]
    assert refused.value.lines == [2, 3]
    assert refused.value.status_code == 422
    assert "line 2:" in str(refused.value)
    assert "line 3:" in str(refused.value)


def test_a_launch_whose_answer_is_lost_is_retried_as_one_run(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    transport = CountingTransport(drop_first=True)
    with _client(clients, transport=transport) as client:
        run = client.runs.launch(**_launch_fields(datasets))
    assert transport.paths == ["POST /runs", "POST /runs"]  # the retry, with the same key
    assert _run_count(db) == 1
    assert run.id == db.execute("SELECT id FROM pipeline_runs").fetchone()[0]  # type: ignore[index]


def test_same_idempotency_key_under_20_concurrent_retries_is_one_run(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    def launch(_: int) -> int:
        with _client(clients) as client:
            return client.runs.launch(**_launch_fields(datasets), idempotency_key="sdk-burst").id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = set(pool.map(launch, range(20)))
    assert len(ids) == 1
    assert _run_count(db) == 1


def test_wait_returns_for_review_and_raises_on_failure_or_timeout(
    clients: Clients, datasets: dict[str, int]
) -> None:
    with _client(clients) as client, clients.as_("projector") as projector:
        waiting = client.runs.launch(**_launch_fields(datasets))
        failing = client.runs.launch(**_launch_fields(datasets))
        stuck = client.runs.launch(**_launch_fields(datasets))
        for status in ("training", "evaluating", "awaiting_approval"):
            assert projector.patch(f"/runs/{waiting.id}/status", json={"status": status}).status_code == 200
        body = {"status": "failed", "reason": "CUDA out of memory"}
        assert projector.patch(f"/runs/{failing.id}/status", json=body).status_code == 200

        assert client.runs.wait(waiting.id, timeout=5).status is RunStatus.AWAITING_APPROVAL
        with pytest.raises(RunFailed, match="CUDA out of memory") as failed:
            client.runs.wait(failing.id, timeout=5)
        with pytest.raises(WaitTimeout) as timed_out:
            client.runs.wait(stuck.id, timeout=0.3, poll_interval=0.1)
        with pytest.raises(WaitTimeout):  # awaiting approval is not the decision
            client.runs.wait(waiting.id, timeout=0.3, poll_interval=0.1, wait_for_decision=True)
        cancelled = client.runs.cancel(stuck.id, reason="not needed")
    assert failed.value.run.status is RunStatus.FAILED
    assert timed_out.value.run.status is RunStatus.PENDING
    assert cancelled.status is RunStatus.CANCELLED


def test_from_env_reads_the_url_and_key(
    clients: Clients, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_API_URL", clients.base_url)
    monkeypatch.setenv("MLOPS_API_KEY", clients.keys["viewer"])
    with Client.from_env() as client:
        assert list(client.runs.list()) == []  # the database is clean; the emulator's registry is shared
        with clients.as_("viewer") as viewer:
            registry = [item["name"] for item in viewer.get("/models").json()["items"]]
        assert [group.name for group in client.models.list()] == registry
    monkeypatch.setenv("MLOPS_API_KEY", "not-a-key")
    with Client.from_env() as client, pytest.raises(ApiError):
        client.models.list()  # the key from the environment is the one used


def test_async_client_does_the_same(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{}\n" + jsonl(EVAL_ROW))

    async def scenario() -> tuple[int, list[int], set[int], list[int], list[int]]:
        transport = AsyncDroppingTransport()
        async with AsyncClient(clients.base_url, clients.keys["operator"], transport=transport) as client:
            first = await client.runs.launch(**_launch_fields(datasets))  # its first answer is lost
            assert transport.posts == 2
            more = [(await client.runs.launch(**_launch_fields(datasets))).id for _ in range(2)]
            listed = [run.id async for run in client.runs.list(page_size=2)]
            burst = await asyncio.gather(
                *(
                    client.runs.launch(**_launch_fields(datasets), idempotency_key="async-burst")
                    for _ in range(20)
                )
            )
            with pytest.raises(DatasetInvalid) as refused:
                await client.datasets.upload(bad)
            with pytest.raises(WaitTimeout):
                await client.runs.wait(first.id, timeout=0.3, poll_interval=0.1)
            return first.id, listed, {r.id for r in burst}, more, refused.value.lines

    first, listed, burst, more, lines = asyncio.run(scenario())
    assert listed == sorted([first, *more], reverse=True)
    assert len(burst) == 1
    assert _run_count(db) == 4  # the lost answer's launch once, two more, the burst once
    assert lines == [1]

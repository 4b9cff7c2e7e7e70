"""Helpers shared by the API tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from mlops_contracts.aws import aws_client
from mlops_devstack.dev_signer import DevSigner, DevSignInServer, person_named
from mlops_devstack.emulator import Emulator, free_port
from mlops_devstack.processes import ChildProcess, ProcessFailed, http_answers

BUS = "mlops-events"
BUCKET = "mlops-datasets-test"
OUTPUTS_BUCKET = "mlops-model-outputs-test"  # the runs' outputs: results' *_uri lie here
REGION = "eu-west-1"
IDENTITY_HEADER = "x-amzn-oidc-data"


def identity_env(sign_in: DevSignInServer) -> dict[str, str]:
    """The API's settings for people signed in by the development signer (as `make dev` sets them)."""
    return {
        "OIDC_ALB_ARN": sign_in.signer.alb_arn,
        "OIDC_PUBLIC_KEY_URL": sign_in.public_key_url,
        "OIDC_DEV_COOKIE": sign_in.cookie,
        "SIGN_IN_URL": sign_in.sign_in_url,
    }


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class AwsFixture:
    """The bus and bucket the API needs, plus a rule that copies every API event to a queue so
    tests can count what reached the bus."""

    emulator: Emulator
    queue_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def provision(self) -> None:
        """Create (or find again, after an emulator restart) the bus, bucket, probe queue and rule."""
        events = aws_client("events", region=REGION)
        if BUS not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=BUS)
        s3 = aws_client("s3", region=REGION)
        existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        for bucket in (BUCKET, OUTPUTS_BUCKET):
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        sqs = aws_client("sqs", region=REGION)
        self.queue_url = sqs.create_queue(QueueName="api-events-probe")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="probe-all-api-events",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["mlops.api"]}),
        )
        events.put_targets(
            Rule="probe-all-api-events", EventBusName=BUS, Targets=[{"Id": "probe", "Arn": queue_arn}]
        )

    def drain_events(self, *, expect: int | None = None, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Receive (and delete) the events that reached the probe queue. With `expect`, wait until
        that many arrived (or the timeout), then keep listening briefly for extras."""
        sqs = aws_client("sqs", region=REGION)
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        quiet_rounds = 0
        while time.monotonic() < deadline:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in messages:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if messages:
                quiet_rounds = 0
                continue
            quiet_rounds += 1
            if expect is None and quiet_rounds >= 1:
                break
            if expect is not None and len(received) >= expect and quiet_rounds >= 2:
                break
        return received

    def purge(self) -> None:
        """Empty the probe queue now (SQS PurgeQueue is limited to once a minute)."""
        sqs = aws_client("sqs", region=REGION)
        while messages := sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages],
            )

    def bucket_keys(self) -> list[str]:
        listing = aws_client("s3", region=REGION).list_objects_v2(Bucket=BUCKET)
        return [o["Key"] for o in listing.get("Contents", [])]


@dataclass
class ApiServer:
    child: ChildProcess
    base_url: str

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.child.process

    @property
    def log_path(self) -> str:
        return str(self.child.log)

    def log(self) -> str:
        return self.child.output()

    def stop(self) -> None:
        self.child.stop(timeout=10)


def start_api(
    database_url: str, tmp_dir: str, *, access_log: bool = False, port: int | None = None, **extra_env: str
) -> ApiServer:
    """The API in a child process, ready; on a free port unless `port` is given (a restart)."""
    port = port or free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATASETS_BUCKET": BUCKET,
        "MODEL_OUTPUTS_BUCKET": OUTPUTS_BUCKET,
        "EVENT_BUS_NAME": BUS,
        "API_KEY_CACHE_SECONDS": "0",
        # tests set runs' statuses by hand, with made-up execution ARNs: no reconciler unless asked
        "RECONCILE_INTERVAL_SECONDS": "0",
        "OUTBOX_POLL_SECONDS": "0.1",
        "OUTBOX_MAX_BACKOFF_SECONDS": "1",
        **extra_env,
    }
    child = ChildProcess.start(
        "the API",
        [
            sys.executable,
            "-m",
            "mlops_api",
            "serve",
            "--port",
            str(port),
            "--access-log" if access_log else "--no-access-log",
        ],
        env=env,
        log=Path(tmp_dir) / f"api-{port}.log",
    )
    server = ApiServer(child, f"http://127.0.0.1:{port}")
    try:
        child.wait_until(
            lambda: http_answers(f"{server.base_url}/openapi.json", timeout=1), timeout=30, interval=0.1
        )
    except ProcessFailed as exc:
        server.stop()
        raise RuntimeError(str(exc)) from None
    return server


def make_key(db: psycopg.Connection[Any], role: str, name: str | None = None) -> str:
    import hashlib
    import secrets

    key = "mlk_" + secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO api_keys (name, role, key_prefix, key_hash) VALUES (%s, %s, %s, %s)",
        (name or f"{role}-{secrets.token_hex(3)}", role, key[:12], hashlib.sha256(key.encode()).hexdigest()),
    )
    return key


@dataclass
class Clients:
    base_url: str
    keys: dict[str, str]
    signer: DevSigner | None = None  # the session's development signer, for people's identities

    def as_(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": self.keys[role]}, timeout=30)

    def identity(self, user: str) -> str:
        """A signed identity of a local person (mlops_devstack.dev_signer.LOCAL_PEOPLE), as the ALB adds it."""
        assert self.signer is not None, "the API of this session has no development signer"
        person = person_named(user)
        assert person is not None, f"no local person {user!r}"
        return self.signer.token_for(person)

    def person(self, user: str) -> httpx.Client:
        """A browser of a person signed in at the load balancer: the signed identity header, no key."""
        return httpx.Client(
            base_url=self.base_url, headers={IDENTITY_HEADER: self.identity(user)}, timeout=30
        )

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)


QA_ROW = {"question": "What is LoRA?", "context": "LoRA adds low-rank adapters.", "answer": "Adapters."}
EVAL_ROW = {
    "question": "What is LoRA?",
    "contexts": ["LoRA adds low-rank adapters to frozen weights."],
    "ground_truth": "A low-rank adaptation method.",
}


def jsonl(*rows: Any) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def upload(client: httpx.Client, name: str, kind: str, content: bytes) -> httpx.Response:
    return client.post(
        "/datasets",
        data={"name": name, "kind": kind},
        files={"file": (f"{name}.jsonl", content, "application/x-ndjson")},
    )


def run_at(
    clients: Clients,
    datasets: dict[str, int],
    *statuses: str,
    execution_arn: str | None = None,
    **overrides: Any,
) -> int:
    """A new run moved through `statuses` by the projector (with the execution that owns it)."""
    with clients.as_("operator") as op:
        run_id = int(op.post("/runs", json=run_body(datasets, **overrides)).json()["id"])
    with clients.as_("projector") as projector:
        for status in statuses:
            body = {"status": status, **({"execution_arn": execution_arn} if execution_arn else {})}
            changed = projector.patch(f"/runs/{run_id}/status", json=body)
            assert changed.status_code == 200, changed.text
    return run_id


def approval_request(task_token: str, execution_arn: str, **overrides: Any) -> dict[str, Any]:
    """The body the approval worker registers a workflow's wait with (POST /runs/{id}/approvals)."""
    return {
        "task_token": task_token,
        "execution_arn": execution_arn,
        "ml_score": 0.8,
        "scores": {"faithfulness": 0.8},
        "ml_score_threshold": 0.7,
        "timeout_seconds": 3600,
        **overrides,
    }


def run_body(datasets: dict[str, int], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": "mistral-7b-rag-qa",
        "model_id": "mistralai/Mistral-7B-v0.1",
        "task_type": "finetune",
        "experiment_name": "rag-qa-finetune",
        "train_dataset_id": datasets["train"],
        "eval_dataset_id": datasets["eval"],
    }
    body.update(overrides)
    return body

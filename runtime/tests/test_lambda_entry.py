"""mlops_sqs_runtime.lambda_entry, what the worker images run on Lambda
(docs/decisions/0019-platform-metrics-and-traces.md): a real worker handler (the claims handler) run
as Lambda runs it - a fresh interpreter that imports the entry, `_X_AMZN_TRACE_ID` set per invocation,
the SQS event Lambda builds - sends its spans to the function's X-Ray daemon (a stand-in reading the
real UDP format), inside the invocation's X-Ray trace, tagged with the run, and the API call carries
that trace on, so the API's spans join it. The API and Step Functions are a local HTTP stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops_testkit.xray_daemon import FakeXRayDaemon, ReceivedSpan

FUNCTION = "mlops-claims"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:mlops-claims"
SERVER, CONSUMER, CLIENT, INTERNAL = 2, 5, 3, 1  # OTLP span kinds
STATUS_ERROR = 2


class ApiAndStepFunctions(BaseHTTPRequestHandler):
    """POST /runs/{id}/claim answers claimed (run 13: a 400 the claims handler does not expect);
    Step Functions' JSON protocol answers SendTaskSuccess."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self.seen.append({"path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/runs/13/"):
            self._answer(400, {"detail": "no such run"}, "application/json")
        elif self.path.startswith("/runs/"):
            self._answer(200, {"claimed": True}, "application/json")
        else:
            self._answer(200, {}, "application/x-amz-json-1.0")

    def _answer(self, status: int, body: dict[str, Any], content_type: str) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    ApiAndStepFunctions.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ApiAndStepFunctions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


# Lambda's side: import the image command's module once, then one invocation per (trace header, run).
INVOKE = textwrap.dedent(
    """
    import json, os, sys, uuid
    from mlops_sqs_runtime.lambda_sqs import LocalLambdaContext, build_event, function_arn

    from mlops_sqs_runtime import lambda_entry

    function, queue_arn = os.environ["AWS_LAMBDA_FUNCTION_NAME"], sys.argv[2]
    for trace_header, run_id in json.loads(sys.argv[1]):
        os.environ["_X_AMZN_TRACE_ID"] = trace_header  # awslambdaric sets it before each invocation
        body = json.dumps({"task_token": f"token-{run_id}", "run_id": run_id,
                           "execution_arn": "arn:aws:states:eu-west-1:123456789012:execution:m:e"})
        message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "r", "Body": body, "MD5OfBody": "m",
                   "Attributes": {"ApproximateReceiveCount": "1"}}
        context = LocalLambdaContext(function_name=function, timeout_seconds=30,
                                     invoked_function_arn=function_arn(function, queue_arn))
        try:
            result = lambda_entry.handler(build_event([message], queue_arn=queue_arn), context)
        except Exception as exc:  # Lambda reports the invocation failed (the batch comes back)
            result = {"error": type(exc).__name__}
        print(json.dumps({"run_id": run_id, "result": result, "request_id": context.aws_request_id}))
    """
)


def lambda_environment(api: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "API_"))}
    env.update(
        # what Lambda sets
        AWS_LAMBDA_FUNCTION_NAME=FUNCTION,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/12/07/[$LATEST]abc",
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL_SFN=api,
        # what terraform/modules/lambdas sets
        ORIG_HANDLER="mlops_projector.claim.handler",
        OTEL_TRACES_ENABLED="true",
        OTEL_SERVICE_NAME=FUNCTION,
        API_URL=api,
        API_KEY="projector-key",
    )
    env.update(extra)
    return env


def python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python *args` in a fresh interpreter, as a Lambda sandbox starts."""
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def invoke(env: dict[str, str], invocations: list[tuple[str, int]]) -> list[dict[str, Any]]:
    result = python(env, "-c", INVOKE, json.dumps(invocations), QUEUE_ARN)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"run_id"')]


def trace_header(sampled: bool) -> tuple[str, str, str]:
    """(header, trace id as 32 hex digits, parent segment id): an X-Ray trace id of now."""
    epoch = format(int(time.time()), "08x")
    unique = os.urandom(12).hex()
    parent = os.urandom(8).hex()
    return f"Root=1-{epoch}-{unique};Parent={parent};Sampled={int(sampled)}", epoch + unique, parent


def in_trace(spans: list[ReceivedSpan], trace_id: str) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans if span.trace_id == trace_id}


def test_an_invocation_is_traced_inside_its_xray_trace_with_the_run_id(api: str) -> None:
    first, first_trace, first_parent = trace_header(sampled=True)
    unsampled, unsampled_trace, _ = trace_header(sampled=False)
    second, second_trace, second_parent = trace_header(sampled=True)
    with FakeXRayDaemon() as daemon:
        results = invoke(
            lambda_environment(api, AWS_XRAY_DAEMON_ADDRESS=daemon.address),
            [(first, 42), (unsampled, 43), (second, 44)],
        )
        spans = daemon.receive(quiet_seconds=1.0)

    assert [r["result"] for r in results] == [{"batchItemFailures": []}] * 3
    claims = [s["path"] for s in ApiAndStepFunctions.seen if s["path"].startswith("/runs/")]
    assert claims == ["/runs/42/claim", "/runs/43/claim", "/runs/44/claim"]  # every invocation ran

    traced = in_trace(spans, first_trace)
    invocation = traced[FUNCTION]
    assert invocation.kind == SERVER
    assert invocation.parent_span_id == first_parent  # a child of Lambda's own segment
    assert invocation.attributes["faas.invocation_id"] == results[0]["request_id"]
    assert invocation.attributes["cloud.account.id"] == "123456789012"
    batch = traced["process mlops-claims"]
    assert (batch.kind, batch.parent_span_id) == (CONSUMER, invocation.span_id)
    task = traced["claim run"]
    assert task.parent_span_id == batch.span_id
    assert task.attributes["mlops.run_id"] == "42"
    assert task.attributes["aws.xray.annotations"] == ["mlops.run_id"]
    calls = [span for span in traced.values() if span.kind == CLIENT]
    assert {span.parent_span_id for span in calls} == {task.span_id}
    api_call = next(span for span in calls if span.name.startswith("POST"))
    assert api_call.attributes["mlops.run_id"] == "42"
    assert any(span.attributes.get("rpc.method") == "SendTaskSuccess" for span in calls)
    assert invocation.resource["service.name"] == FUNCTION
    assert invocation.resource["cloud.platform"] == "aws_lambda"
    assert invocation.resource["faas.name"] == FUNCTION

    # the API's spans join the trace: the worker's call carries it on
    claim_42 = next(s for s in ApiAndStepFunctions.seen if s["path"] == "/runs/42/claim")
    assert claim_42["headers"]["traceparent"].split("-")[1] == first_trace

    # X-Ray did not sample the second invocation: nothing of it is sent
    assert not in_trace(spans, unsampled_trace)
    # each invocation's own trace, read when it starts, not once per sandbox
    assert in_trace(spans, second_trace)[FUNCTION].parent_span_id == second_parent
    assert in_trace(spans, second_trace)["claim run"].attributes["mlops.run_id"] == "44"
    assert {span.trace_id for span in spans} == {first_trace, second_trace}


def test_a_failed_invocation_is_an_error_span_and_its_spans_are_still_sent(api: str) -> None:
    header, trace_id, _ = trace_header(sampled=True)
    with FakeXRayDaemon() as daemon:
        results = invoke(lambda_environment(api, AWS_XRAY_DAEMON_ADDRESS=daemon.address), [(header, 13)])
        spans = in_trace(daemon.receive(quiet_seconds=1.0), trace_id)
    # the whole batch failed: powertools raises, Lambda returns the batch to the queue
    assert results[0]["result"] == {"error": "BatchProcessingError"}
    for name in (FUNCTION, "claim run"):
        assert spans[name].status_code == STATUS_ERROR, name
        assert "exception" in spans[name].events, name
    assert spans["claim run"].attributes["mlops.run_id"] == "13"


def test_without_tracing_the_entry_is_the_workers_handler(api: str) -> None:
    env = lambda_environment(api)
    del env["OTEL_TRACES_ENABLED"]
    check = (
        "from mlops_sqs_runtime import lambda_entry; import mlops_projector.claim as claim; "
        "assert lambda_entry.handler is claim.handler; print('same')"
    )
    result = python(env, "-c", check)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "same"


def test_traced_without_active_tracing_says_so_and_runs_untraced(api: str) -> None:
    header, _, _ = trace_header(sampled=True)
    env = lambda_environment(api)  # no AWS_XRAY_DAEMON_ADDRESS: the function's tracing mode is not Active
    result = python(env, "-c", INVOKE, json.dumps([(header, 42)]), QUEUE_ARN)
    assert result.returncode == 0, result.stderr
    assert "AWS_XRAY_DAEMON_ADDRESS is unset" in result.stdout + result.stderr
    assert '"batchItemFailures": []' in result.stdout


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("", "ORIG_HANDLER='': name the worker's handler as package.module.function"),
        ("mlops_projector.claim:handler", "name the worker's handler as package.module.function"),
        (
            "mlops_projector.nothing.handler",
            "ORIG_HANDLER=mlops_projector.nothing.handler: not in this image",
        ),
        ("mlops_projector.claim.nothing", "ORIG_HANDLER=mlops_projector.claim.nothing: not in this image"),
    ],
)
def test_a_wrong_handler_fails_the_start_and_names_it(api: str, handler: str, message: str) -> None:
    env = lambda_environment(api, ORIG_HANDLER=handler)
    result = python(env, "-c", "import mlops_sqs_runtime.lambda_entry")
    assert result.returncode != 0
    assert "EntryError" in result.stderr
    assert message in result.stderr

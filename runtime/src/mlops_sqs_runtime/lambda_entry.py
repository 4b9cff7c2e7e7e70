"""What a worker image runs on Lambda: the worker's handler, each invocation traced
(docs/decisions/0019-platform-metrics-and-traces.md).

terraform/modules/lambdas gives every function `mlops_sqs_runtime.lambda_entry.handler` as its image
command and the worker's own handler in ORIG_HANDLER (`package.module.function`, as awslambdaric names
it). On import, with OTEL_TRACES_ENABLED, this module sets up tracing (spans to the X-Ray daemon of the
function, mlops_contracts.tracing) and has opentelemetry-instrumentation-aws-lambda wrap that handler:
one server span per invocation, a child of the invocation's X-Ray segment (the `_X_AMZN_TRACE_ID`
Lambda sets for each invocation), a "process <queue>" span around an SQS batch, and the spans flushed
before the function returns (Lambda freezes the sandbox afterwards). Without tracing, `handler` is the
worker's handler itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from importlib import import_module
from typing import Any

from opentelemetry.context import Context
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator

from mlops_contracts.tracing import configure_tracing

ORIG_HANDLER_ENV = "ORIG_HANDLER"
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


class EntryError(RuntimeError):
    """The function's configuration names no handler this image has."""


def handler_spec() -> tuple[str, str]:
    """(module, function) of the worker's handler that ORIG_HANDLER names."""
    spec = os.environ.get(ORIG_HANDLER_ENV, "").strip()
    module, _, function = spec.rpartition(".")
    if not _DOTTED_NAME.fullmatch(spec) or not module:
        raise EntryError(
            f"{ORIG_HANDLER_ENV}={spec!r}: name the worker's handler as package.module.function "
            "(terraform/lambda_mappings.json's handler with '.' for ':')"
        )
    return module, function


def invocation_parent(event: Any) -> Context:
    """The parent of an invocation's span: the X-Ray segment Lambda opened for it (`_X_AMZN_TRACE_ID`,
    read per invocation). An SQS event carries no HTTP headers to take it from."""
    return AwsXRayLambdaPropagator().extract({})


def _load(module_name: str, function_name: str) -> Callable[[Any, Any], Any]:
    try:
        function = getattr(import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise EntryError(
            f"{ORIG_HANDLER_ENV}={module_name}.{function_name}: not in this image ({exc})"
        ) from exc
    if not callable(function):
        raise EntryError(f"{ORIG_HANDLER_ENV}={module_name}.{function_name} is not a function")
    return function  # type: ignore[no-any-return]


def _entry() -> Callable[[Any, Any], Any]:
    module_name, function_name = handler_spec()
    _load(module_name, function_name)  # a wrong name fails here, clearly, before any wrapping
    provider = configure_tracing(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "mlops-worker"))
    if provider is not None:
        # replaces the module's function with the traced one (it reads ORIG_HANDLER too)
        AwsLambdaInstrumentor().instrument(
            tracer_provider=provider, event_context_extractor=invocation_parent
        )
    return _load(module_name, function_name)


handler = _entry()

"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from mlops_api.approvals.routes import router as approvals_router
from mlops_api.auth.body_guard import BodyGuardMiddleware
from mlops_api.auth.keys import KeyVerifier
from mlops_api.auth.routes import me_router
from mlops_api.auth.routes import router as api_keys_router
from mlops_api.config import Settings, get_settings, identity_verifier
from mlops_api.datasets.routes import router as datasets_router
from mlops_api.db import autocommit, create_engine, session_factory
from mlops_api.deployments.routes import router as deployments_router
from mlops_api.errors import install_error_handlers
from mlops_api.flows import RUN_STATUS_HOOKS
from mlops_api.flows import wire as wire_domains
from mlops_api.migrate import ensure_schema_current
from mlops_api.openapi_ids import operation_id
from mlops_api.ops.metrics import ApiMetrics, MetricsMiddleware
from mlops_api.ops.reconciler import Reconciler
from mlops_api.ops.request_id import RequestIdMiddleware
from mlops_api.ops.routes import router as ops_router
from mlops_api.ops.tracing import instrument_app
from mlops_api.outbox.relay import relay_from_settings
from mlops_api.registry.routes import router as registry_router
from mlops_api.runs import runtime_budget
from mlops_api.runs.aws_stopper import AwsRunStopper
from mlops_api.runs.routes import router as runs_router
from mlops_contracts.aws import aws_client
from mlops_contracts.tracing import configure_tracing

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The API; traced with `tracer_provider`, else as OTEL_TRACES_ENABLED says (mlops_contracts.tracing)."""
    settings = settings or get_settings()
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_target(), pool_size=settings.db_pool_size)
        try:
            await ensure_schema_current(engine)
        except Exception:
            await engine.dispose()
            raise
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.autocommit_engine = autocommit(engine)
        app.state.autocommit_session_factory = session_factory(app.state.autocommit_engine)
        stop = asyncio.Event()
        task = relay_engine = publisher = None
        reconciling = None
        if settings.reconcile_interval_seconds > 0:
            reconciler = Reconciler(
                app.state.session_factory,
                lambda: aws_client("stepfunctions", region=settings.aws_region, max_attempts=3),
                RUN_STATUS_HOOKS,
                interval_seconds=settings.reconcile_interval_seconds,
                grace_seconds=settings.reconcile_grace_seconds,
            )
            reconciling = asyncio.create_task(reconciler.run(stop), name="reconciler")
        if settings.outbox_relay_enabled:
            # The relay has its own connection: holding one of the requests' pool while it
            # publishes would make a request wait for it.
            relay_engine = create_engine(settings.database_target(), pool_size=1)
            relay, publisher = relay_from_settings(settings, session_factory(relay_engine))
            task = asyncio.create_task(relay.run(stop), name="outbox-relay")
            app.state.notify_outbox = relay.notify
        # Garbage collection pauses were the largest latency spikes under load (a full
        # collection every second or so, 20 to 45 ms each). Everything allocated so far (modules,
        # routes, schemas, pools) lives as long as the process: frozen, no collection walks it.
        # And a collection of the youngest generation starts after 20,000 net new objects
        # instead of 700: with the objects of ten requests in flight alive at any moment, 700
        # promoted them to the old generation at every step, which triggered full collections.
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 10, 10)
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            if reconciling is not None:
                await reconciling
            if publisher is not None:
                await publisher.close()
            if relay_engine is not None:
                await relay_engine.dispose()
            await engine.dispose()

    app = FastAPI(
        title="MLOps platform API",
        version="0.1.0",
        description="Launch LLM fine-tuning and evaluation runs and follow them to production.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.key_verifier = KeyVerifier(settings.api_key_cache_seconds)
    app.state.identity_verifier = identity_verifier(settings)
    app.state.notify_outbox = lambda: None
    app.state.run_stopper = AwsRunStopper(settings.aws_region)
    install_error_handlers(app)
    wire_domains(app)
    app.add_middleware(
        BodyGuardMiddleware,
        max_json_bytes=settings.max_json_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: the id is bound for everything inside
    app.include_router(runs_router)
    app.include_router(approvals_router)
    app.include_router(datasets_router)
    app.include_router(api_keys_router)
    app.include_router(me_router)
    app.include_router(registry_router)
    app.include_router(deployments_router)
    app.include_router(ops_router)
    instrument_app(app, tracer_provider or configure_tracing("mlops-api"))
    publish_runtime_budget(app, settings.max_training_runtime_seconds)
    return app


def publish_runtime_budget(app: FastAPI, limit: int) -> None:
    """The OpenAPI document gives POST /runs' bound on max_runtime_seconds (mlops_api.runs.runtime_budget)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = runtime_budget.publish(generate(), limit)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

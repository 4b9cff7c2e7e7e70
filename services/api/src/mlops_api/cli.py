"""`mlops-api`: serve the API, run the outbox relay, migrate, create keys."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys

from mlops_api.auth.roles import Role
from mlops_api.config import get_settings
from mlops_contracts.logs import configure_logging

log = logging.getLogger("mlops_api.cli")

# PostgreSQL's default max_connections: every worker may open DB_POOL_SIZE connections.
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
STARTUP_FAILURE = 3  # uvicorn's exit status when the application fails to start


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    # Once, before any worker starts (in AWS the one-off migration task runs first and this stays off).
    migrate = get_settings().migrate_on_start if args.migrate is None else args.migrate
    if migrate:
        _migrate(args)
    if args.workers <= 1:
        uvicorn.run(
            "mlops_api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=args.access_log,
            log_config=None,  # keep the logging configured by main()
        )
        return 0
    connections = args.workers * (get_settings().db_pool_size + 1)  # + the relay's own
    if connections >= POSTGRES_DEFAULT_MAX_CONNECTIONS:
        log.warning(
            "%d workers may open up to %d database connections (DB_POOL_SIZE + the relay's each): check "
            "PostgreSQL's max_connections (%d by default), or lower DB_POOL_SIZE",
            args.workers,
            connections,
            POSTGRES_DEFAULT_MAX_CONNECTIONS,
        )
    return _serve_workers(args)


def _serve_workers(args: argparse.Namespace) -> int:
    """Worker processes that each listen on their own SO_REUSEPORT socket, so that the kernel
    spreads new connections over them. (uvicorn's --workers share one socket: whichever worker
    wakes first accepts a whole burst of keep-alive connections and keeps them; under the bench
    one worker served 7 times the other's load.) SIGTERM and SIGINT are passed on to the workers,
    which finish their requests and shut down; if a worker dies, the others are stopped and the
    exit status is non-zero, for the supervisor (systemd, ECS) to restart the whole server."""
    # With SO_REUSEPORT a second server started on the same port would share it silently (same
    # user) instead of failing: bind it once alone first, as uvicorn would.
    try:
        _listening_socket(args.host, args.port, reuse_port=False).close()
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker,
            args=(args.host, args.port, args.log_level, args.access_log),
            name=f"mlops-api-worker-{n}",
        )
        for n in range(args.workers)
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                worker.terminate()  # SIGTERM: uvicorn's graceful shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        if not stopping:
            worker.start()
    status = 0
    running = [w for w in workers if w.pid is not None]
    while running:
        multiprocessing.connection.wait([w.sentinel for w in running])
        for worker in [w for w in running if w.exitcode is not None]:
            running.remove(worker)
            if not stopping:
                code = worker.exitcode or 0
                status = code if code >= 0 else 128 - code  # killed by a signal: 128 + its number
                log.error("%s exited with status %d: stopping the server", worker.name, status)
                stop()
    return status


def _worker(host: str, port: int, log_level: str, access_log: bool) -> None:
    """One worker process of `_serve_workers` (started by `spawn`: it configures itself)."""
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    try:
        sock = _listening_socket(host, port, reuse_port=True)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(1)
    config = uvicorn.Config(
        "mlops_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        log_config=None,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """Bound, not yet listening (uvicorn listens), as uvicorn's own `--workers` socket."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _migrate(_: argparse.Namespace) -> int:
    from mlops_api.migrate import head_revision, upgrade

    before = upgrade(get_settings().database_target())
    if before == head_revision():
        print(f"database already at {before}")
    else:
        print(f"database migrated: {before or 'empty'} -> {head_revision()}")
    return 0


def _create_key(args: argparse.Namespace) -> int:
    from mlops_api.auth.keys import create_key
    from mlops_api.db import create_engine, session_factory
    from mlops_api.migrate import ensure_schema_current

    async def run() -> str:
        engine = create_engine(get_settings().database_target(), pool_size=1)
        try:
            await ensure_schema_current(engine)
            async with session_factory(engine)() as session:
                _, plain = await create_key(session, name=args.name, role=Role(args.role))
                await session.commit()
                return plain
        finally:
            await engine.dispose()

    plain = asyncio.run(run())
    print(plain if args.quiet else f"created {args.role} key '{args.name}' (shown once): {plain}")
    return 0


def _relay(_: argparse.Namespace) -> int:
    """The outbox relay as its own process (e.g. a sidecar when the API scales to zero)."""
    from mlops_api.db import create_engine, session_factory
    from mlops_api.migrate import ensure_schema_current
    from mlops_api.outbox.relay import relay_from_settings

    settings = get_settings()

    async def run() -> None:
        engine = create_engine(settings.database_target(), pool_size=1)
        await ensure_schema_current(engine)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        relay, publisher = relay_from_settings(settings, session_factory(engine))
        try:
            await relay.run(stop)
        finally:
            await publisher.close()
            await engine.dispose()

    asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    serve.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="upgrade the schema before serving (default: MIGRATE_ON_START); instances started "
        "together migrate once, under a PostgreSQL advisory lock",
    )
    serve.set_defaults(func=_serve)

    sub.add_parser("migrate", help="upgrade the database schema to the latest revision").set_defaults(
        func=_migrate
    )

    key = sub.add_parser("create-key", help="create an API key (the first admin key, for instance)")
    key.add_argument("--name", required=True)
    key.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    key.add_argument("--quiet", action="store_true", help="print only the key")
    key.set_defaults(func=_create_key)

    sub.add_parser("relay", help="run the outbox relay on its own").set_defaults(func=_relay)

    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    try:
        return int(args.func(args))
    except Exception as exc:  # a clear one-line message for operators, not a traceback
        from mlops_api.db import DatabaseUrlError
        from mlops_api.migrate import SchemaNotCurrent

        if isinstance(exc, SchemaNotCurrent | DatabaseUrlError):
            print(f"mlops-api: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

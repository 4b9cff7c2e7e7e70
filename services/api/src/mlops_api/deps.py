"""Request-scoped dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


async def get_autocommit_engine(request: Request) -> AsyncEngine:
    """For endpoints that need one statement: they borrow a connection for just that
    (`async with engine.connect()`), without the bookkeeping of a session (see `db.autocommit`).
    (`async` although it awaits nothing: FastAPI runs plain `def` dependencies in a thread.)"""
    engine: AsyncEngine = request.app.state.autocommit_engine
    return engine


async def get_autocommit_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on the autocommit engine: for endpoints that only read."""
    async with request.app.state.autocommit_session_factory() as session:
        yield session

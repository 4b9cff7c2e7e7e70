"""People's tags and note on a run (PATCH /runs/{id}). Each change is recorded as a `run.annotated`
step of the run's timeline: who changed what, and when (the audit of annotations)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.keys import Principal
from mlops_api.runs.models import PipelineRun, RunEvent
from mlops_api.runs.schemas import RunAnnotations
from mlops_api.runs.service import get_run

ANNOTATED = "run.annotated"


async def annotate(
    session: AsyncSession, run_id: int, body: RunAnnotations, principal: Principal
) -> PipelineRun:
    """Replace the fields given; record the change (before and after) unless nothing changed."""
    run = await get_run(session, run_id, for_update=True)
    before = {"tags": list(run.tags), "note": run.note}
    if "tags" in body.model_fields_set:
        run.tags = list(dict.fromkeys(body.tags or []))  # repeats dropped, order kept
    if "note" in body.model_fields_set:
        run.note = (body.note or "").strip() or None
    after = {"tags": list(run.tags), "note": run.note}
    if after != before:
        now = datetime.now(UTC)
        run.updated_at = now
        changed = {k: {"from": before[k], "to": after[k]} for k in after if after[k] != before[k]}
        session.add(
            RunEvent(
                run_id=run_id,
                event_type=ANNOTATED,
                source=principal.name,
                data={"changed": changed},
                occurred_at=now,
            )
        )
    await session.commit()
    await session.refresh(run)
    return run

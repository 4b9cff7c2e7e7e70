"""Runs: a filterable table of every run, refreshed while runs are active."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from mlops_contracts.api_client import ApiError
from mlops_ui import ui
from mlops_ui.config import get_settings

PERIODS: dict[str, timedelta | None] = {
    "Any time": None,
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Between dates": None,  # a date range picker
}
FULL_RANGE = (0.0, 1.0)
ACTIVE_FLAG = "runs_page_active"


def table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "Run": r["id"],
            "Status": ui.status_text(r["status"]),
            "MLScore": r.get("ml_score"),  # the evaluation's; empty until the run is evaluated
            "Model": r["model_name"],
            "Task": "Fine-tune" if r["task_type"] == "finetune" else "Evaluation only",
            "Experiment": r["experiment_name"],
            "Tags": ", ".join(r.get("tags") or []),
            "Created": ui.local_time(r["created_at"]),
            "Duration": ui.duration(ui.between(r.get("started_at") or r["created_at"], r.get("finished_at"))),
            "Launched by": r["created_by"],
        }
        for r in runs
    ]
    columns = [
        "Run",
        "Status",
        "MLScore",
        "Model",
        "Task",
        "Experiment",
        "Tags",
        "Created",
        "Duration",
        "Launched by",
    ]
    return pd.DataFrame(rows, columns=columns).astype({"MLScore": "float64"})


def created_window(period: str, where: Any) -> tuple[datetime | None, datetime | None]:
    """The creation-time bounds of the `Created` filter: a period up to now, or whole local days
    picked in a date range."""
    since = PERIODS[period]
    if since is not None:
        return datetime.now(UTC) - since, None
    if period != "Between dates":
        return None, None
    today = datetime.now(ui.local_zone()).date()
    picked = where.date_input(
        "Created between", (today - timedelta(days=7), today), max_value=today, key="filter_dates"
    )
    if not isinstance(picked, tuple | list) or len(picked) != 2:  # the second date not picked yet
        return None, None
    zone = ui.local_zone()
    start = datetime.combine(picked[0], time.min, tzinfo=zone)
    end = datetime.combine(picked[1] + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def render() -> None:
    ui.page_header("Runs", "Every fine-tuning and evaluation run, newest first. Select a row to open it.")
    client = ui.client()
    with ui.reported("Cannot load the runs"):
        everything, more = client.list_runs(max_items=1000)

    models = sorted({r["model_name"] for r in everything})
    experiments = sorted({r["experiment_name"] for r in everything})
    f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
    statuses = f1.multiselect(
        "Status",
        list(ui.STATUS),
        format_func=lambda s: ui.STATUS[s].label,
        key="filter_status",
        placeholder="All",
    )
    model = f2.selectbox("Model", models, index=None, placeholder="All models", key="filter_model")
    experiment = f3.selectbox(
        "Experiment", experiments, index=None, placeholder="All experiments", key="filter_experiment"
    )
    period = f4.selectbox("Created", list(PERIODS), key="filter_period")
    g1, g2, g3 = st.columns([3, 2, 4])
    tags = g1.multiselect(
        "Tags",
        sorted({t for r in everything for t in r.get("tags") or []}),
        key="filter_tags",
        placeholder="Any",
    )
    low, high = g2.slider(
        "MLScore", 0.0, 1.0, FULL_RANGE, step=0.01, key="filter_score", help="The evaluation's MLScore"
    )
    score_range = (low, high) != FULL_RANGE  # narrowed: runs without a score no longer match
    created_after, created_before = created_window(period, g3)

    active_before = bool(st.session_state.get(ACTIVE_FLAG))
    refresh = get_settings().refresh_seconds if active_before else None

    @st.fragment(run_every=refresh)
    def live_table() -> None:
        try:
            runs, more_filtered = client.list_runs(  # filtered by the API
                statuses=statuses,
                model_name=model,
                experiment_name=experiment,
                tags=tags,
                min_ml_score=low if score_range else None,
                max_ml_score=high if score_range else None,
                created_after=created_after,
                created_before=created_before,
                max_items=1000,
            )
        except ApiError as exc:  # shown; the next refresh tries again
            ui.show_error(exc, "Cannot load the runs")
            return

        active = [r for r in runs if r["status"] in ui.ACTIVE]
        waiting = [r for r in runs if r["status"] == "awaiting_approval"]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Runs shown", len(runs), border=True)
        m2.metric("Active", len(active), border=True)
        m3.metric("Awaiting approval", len(waiting), border=True)
        m4.metric("Approved", sum(r["status"] == "approved" for r in runs), border=True)

        if not runs:
            if everything:
                st.info("No run matches these filters.", icon=":material/filter_alt_off:")
            else:
                st.info("No runs yet. Launch one from the **Launch** page.", icon=":material/rocket_launch:")
        else:
            frame = table(runs)
            event = st.dataframe(
                ui.styled(frame, ["Status"]),
                hide_index=True,
                width="stretch",
                on_select="rerun",
                selection_mode="single-row",
                key="runs_table",
                column_config={
                    "Run": st.column_config.NumberColumn("Run", format="#%d", width=60),
                    "Status": st.column_config.TextColumn("Status", width=140),
                    "MLScore": st.column_config.NumberColumn(
                        "MLScore", format="%.3f", width=80, help="The evaluation's MLScore (0 to 1)"
                    ),
                    "Model": st.column_config.TextColumn("Model", width=170),
                    "Task": st.column_config.TextColumn("Task", width=120),
                    "Created": st.column_config.DatetimeColumn(
                        "Created", format="YYYY-MM-DD HH:mm", width=140
                    ),
                    "Duration": st.column_config.TextColumn("Duration", width=100),
                    "Tags": st.column_config.TextColumn("Tags", width=140),
                },
            )
            selected = event.selection.rows if event is not None and hasattr(event, "selection") else []
            if selected:
                run_id = int(frame.iloc[selected[0]]["Run"])
                st.switch_page("views/run_detail.py", query_params={"id": str(run_id)})
        if more or more_filtered:
            st.caption("Showing the newest 1000 runs; narrow the filters to see older ones.")
        now = datetime.now(ui.local_zone()).strftime("%H:%M:%S")
        note = (
            f" · refreshing every {get_settings().refresh_seconds:g} s while runs are active"
            if active
            else ""
        )
        st.caption(f"Updated {now}{note}")
        if bool(active) != active_before:
            st.session_state[ACTIVE_FLAG] = bool(active)
            st.rerun()  # starts (or stops) the automatic refresh

    live_table()


render()

"""Models: the registry's package groups, their versions with status and MLScore, and the trend."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlops_ui import charts, ui

TREND_COLORS = {"Approved": charts.PASS, "Rejected": charts.FAIL, "Pending approval": "#f0a030"}


def run_cell(version: dict[str, Any]) -> str:
    """`#12 · Approved`: the run behind the version and its status (when this API knows it)."""
    if version.get("run_id") is None:
        return "—"
    status = version.get("run_status")
    return f"#{version['run_id']} · {ui.style(status).label}" if status else f"#{version['run_id']}"


def versions_table(items: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "Version": v["version"],
            "Status": ui.status_text(v.get("approval_status"), ui.REGISTRY_STATUS),
            "MLScore": v.get("ml_score"),
            "Run": run_cell(v),
            "Registered": ui.local_time(v.get("created_at")),
            # run_id has its own column
            # the verdict (deployment_status, validation, approver) is in the version's metadata
            "Metadata": ", ".join(
                f"{k}={val}" for k, val in sorted((v.get("metadata") or {}).items()) if k != "run_id"
            ),
        }
        for v in reversed(items)  # newest first
    ]
    return pd.DataFrame(rows, columns=["Version", "Status", "MLScore", "Run", "Registered", "Metadata"])


def render() -> None:
    ui.page_header(
        "Models", "The SageMaker Model Registry: one package group per model, one package per version."
    )
    client = ui.client()
    with ui.reported("Cannot read the model registry"):
        groups = client.list_models()
    if not groups:
        st.info(
            "The registry has no model yet: a run registers its model after training.",
            icon=":material/inventory_2:",
        )
        return

    summary = pd.DataFrame(
        [
            {
                "Model": g["name"],
                "Versions": g["versions"],
                "Latest": f"v{g['latest_version']}" if g.get("latest_version") else "—",
                "Latest status": ui.status_text(g.get("latest_approval_status"), ui.REGISTRY_STATUS)
                if g.get("latest_approval_status")
                else "—",
                "Approved versions": g["approved_versions"],
                "Description": g.get("description") or "",
            }
            for g in groups
        ]
    )
    st.dataframe(
        ui.styled(summary, ["Latest status"], ui.REGISTRY_STATUS),
        hide_index=True,
        width="stretch",
        column_config={
            "Versions": st.column_config.NumberColumn("Versions", width=90),
            "Latest": st.column_config.TextColumn("Latest", width=80),
            "Latest status": st.column_config.TextColumn("Latest status", width=150),
            "Approved versions": st.column_config.NumberColumn("Approved versions", width=140),
        },
    )

    names = [g["name"] for g in groups]
    pick, _ = st.columns([1, 2])
    chosen = pick.selectbox("Model", names, index=0, key="models_group")
    if chosen is None:
        return
    with ui.reported(f"Cannot read the versions of {chosen}"):
        detail = client.model_versions(chosen)
    items = detail["items"]
    if not items:
        st.info(f"**{chosen}** has no version yet.")
        return
    st.subheader(f"Versions of {chosen}", anchor=False)
    st.page_link(
        "views/deployments.py",
        label=f"Deployments of {chosen}",
        icon=":material/cloud_done:",
        query_params={"model": chosen},
    )
    st.dataframe(
        ui.styled(versions_table(items), ["Status"], ui.REGISTRY_STATUS),
        hide_index=True,
        width="stretch",
        placeholder="—",
        column_config={
            "Version": st.column_config.NumberColumn("Version", format="v%d", width=64),
            "Status": st.column_config.TextColumn("Status", width=130),
            "MLScore": st.column_config.NumberColumn("MLScore", format="%.3f", width=80),
            "Run": st.column_config.TextColumn("Run", width=150),
            "Registered": st.column_config.DatetimeColumn("Registered", format="MMM D, HH:mm", width=100),
            "Metadata": st.column_config.TextColumn("Metadata", width=470),
        },
    )
    st.subheader("MLScore across versions", anchor=False)
    trend = pd.DataFrame(
        [
            {
                "version": v["version"],
                "ml_score": v.get("ml_score"),
                "status": ui.style(v.get("approval_status"), ui.REGISTRY_STATUS).label,
            }
            for v in items
        ],
        columns=["version", "ml_score", "status"],
    )
    if trend["ml_score"].notna().any():
        st.altair_chart(charts.mlscore_trend(trend, TREND_COLORS), width="stretch")
    else:
        st.caption("No version has an MLScore yet.")


render()

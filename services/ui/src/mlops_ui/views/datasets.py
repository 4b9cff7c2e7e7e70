"""Datasets: upload a JSONL file (every line validated by the API) and list the registered ones."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlops_contracts.api_client import ApiError
from mlops_ui import ui

REPORT = "datasets_upload_report"
FORMAT_LABELS = {"qa": "QA", "chat": "Chat", "ragas": "RAGAS"}
FORMATS = {
    "train": 'QA rows `{"question", "context", "answer"}` or chat rows `{"messages": [{"role", "content"}, …]}`',
    "eval": 'RAGAS rows `{"question", "contexts": […], "ground_truth"}`',
}


def table(datasets: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "ID": d["id"],
            "Name": d["name"],
            "Kind": "Training" if d["kind"] == "train" else "Evaluation",
            "Format": FORMAT_LABELS.get(d["format"], ui.humanize(d["format"])),
            "Rows": d["row_count"],
            "Size": ui.size(d["size_bytes"]),
            "SHA-256": d["sha256"][:16] + "…",
            "Uploaded": ui.local_time(d["created_at"]),
            "By": d["created_by"],
        }
        for d in datasets
    ]
    return pd.DataFrame(
        rows, columns=["ID", "Name", "Kind", "Format", "Rows", "Size", "SHA-256", "Uploaded", "By"]
    )


def upload_form() -> None:
    with st.form("upload", clear_on_submit=False, border=True):
        st.markdown("##### Upload a dataset")
        c1, c2 = st.columns([2, 1])
        name = c1.text_input("Name", placeholder="rag-qa-train-v2", key="upload_name")
        kind = c2.selectbox(
            "Kind",
            ["train", "eval"],
            format_func=lambda k: "Training" if k == "train" else "Evaluation",
            key="upload_kind",
        )
        st.caption(f"Training: {FORMATS['train']}. Evaluation: {FORMATS['eval']}. One JSON object per line.")
        file = st.file_uploader("JSONL file", type=["jsonl", "json", "ndjson", "txt"], key="upload_file")
        submitted = st.form_submit_button("Upload and validate", type="primary", icon=":material/upload:")
    if not submitted:
        return
    if not name.strip():
        st.session_state[REPORT] = {"error": "Give the dataset a name."}
        return
    if file is None:
        st.session_state[REPORT] = {"error": "Choose a JSONL file to upload."}
        return
    content = file.getvalue()
    with st.status(f"Uploading {file.name} ({ui.size(len(content))})…", expanded=True) as status:
        st.write("Sending the file to the API; every line is validated before anything is stored.")
        try:
            dataset = ui.client().upload_dataset(name.strip(), kind, file.name, content)
        except ApiError as exc:
            status.update(label="The dataset was not stored", state="error", expanded=False)
            st.session_state[REPORT] = {
                "error": exc.message,
                "status": exc.status_code,
                "lines": [{"Line": e.line, "Problem": e.error} for e in exc.line_errors],
            }
            return
        status.update(label=f"Stored {dataset['name']}", state="complete", expanded=False)
    st.session_state[REPORT] = {"dataset": dataset}


def show_report() -> None:
    report = st.session_state.get(REPORT)
    if not report:
        return
    if "dataset" in report:
        d = report["dataset"]
        st.success(
            f"Dataset **#{d['id']} {d['name']}** stored: {d['row_count']} rows, {ui.size(d['size_bytes'])}, "
            f"format {FORMAT_LABELS.get(d['format'], d['format'])}.",
            icon=":material/check_circle:",
        )
        return
    st.error(report["error"], icon=":material/error:")
    lines = report.get("lines") or []
    if lines:
        st.markdown(f"**{len(lines)} line(s) to fix**" + (" (the first ones)" if len(lines) >= 50 else ""))
        st.dataframe(
            pd.DataFrame(lines),
            hide_index=True,
            width="stretch",
            column_config={
                "Line": st.column_config.NumberColumn("Line", width="small"),
                "Problem": st.column_config.TextColumn("Problem", width="large"),
            },
        )


def render() -> None:
    ui.page_header(
        "Datasets", "Training and evaluation sets, validated line by line and stored with their SHA-256."
    )
    if ui.can(ui.CAN_UPLOAD):
        upload_form()
        show_report()
    else:
        role = (ui.principal() or {}).get("role", "?")
        st.caption(f"Your role (**{role}**) may read datasets; an operator or admin uploads them.")

    with ui.reported("Cannot load the datasets"):
        datasets = ui.client().list_datasets()
    st.subheader("Registered datasets", anchor=False)
    if not datasets:
        st.info("No dataset yet.", icon=":material/dataset:")
        return
    train = [d for d in datasets if d["kind"] == "train"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Training sets", len(train), border=True)
    c2.metric("Evaluation sets", len(datasets) - len(train), border=True)
    c3.metric("Total size", ui.size(sum(d["size_bytes"] for d in datasets)), border=True)
    event = st.dataframe(
        table(datasets),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="datasets_table",
        column_config={
            "ID": st.column_config.NumberColumn("ID", format="#%d", width=60),
            "Kind": st.column_config.TextColumn("Kind", width=100),
            "Format": st.column_config.TextColumn("Format", width=80),
            "Rows": st.column_config.NumberColumn("Rows", width=70),
            "Size": st.column_config.TextColumn("Size", width=90),
            "SHA-256": st.column_config.TextColumn("SHA-256", width=170),
            "Uploaded": st.column_config.DatetimeColumn("Uploaded", format="YYYY-MM-DD HH:mm", width=140),
        },
    )
    selected = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if selected:
        dataset = datasets[selected[0]]
        with st.container(border=True):
            st.markdown(f"**#{dataset['id']} {dataset['name']}**")
            st.caption("SHA-256")
            st.code(dataset["sha256"], language=None)
            st.caption("Stored at")
            st.code(dataset["s3_uri"], language=None)
    else:
        st.caption("Select a row for its full SHA-256 and storage location.")


render()

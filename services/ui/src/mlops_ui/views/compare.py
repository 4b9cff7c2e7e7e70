"""Compare: 2 to 5 runs side by side - settings with their differences highlighted, training curves
overlaid, the MLScore breakdown against each run's threshold, and the runs' answers to each
question. `/compare?ids=12,14` opens a comparison directly."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import streamlit as st

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_ui import compare, ui

PICK = "compare_runs"


def chosen_ids() -> list[int]:
    raw = st.query_params.get("ids", "")
    return [int(part) for part in raw.split(",") if part.strip().isdigit()][: compare.MAX_RUNS]


def pick(client: ApiClient) -> list[int]:
    with ui.reported("Cannot load the runs"):
        runs, _ = client.list_runs(limit=200, max_items=200)
    by_id = {r["id"]: r for r in runs}
    if PICK not in st.session_state:  # first visit: the runs the link names
        st.session_state[PICK] = [i for i in chosen_ids() if i in by_id]
    ids: list[int] = st.multiselect(
        "Runs to compare",
        list(by_id),
        format_func=lambda i: (
            f"#{i} · {by_id[i]['model_name']} · {by_id[i]['experiment_name']} · "
            f"{ui.style(by_id[i]['status']).label}"
        ),
        max_selections=compare.MAX_RUNS,
        placeholder=f"Choose {compare.MIN_RUNS} to {compare.MAX_RUNS} runs",
        key=PICK,
    )
    st.query_params["ids"] = ",".join(map(str, ids))
    return ids


def settings_section(runs: list[dict[str, Any]], dataset_names: dict[int, str]) -> None:
    st.subheader("Settings", anchor=False)
    frame = compare.settings(runs, dataset_names)
    differing = int(frame["differs"].sum())
    height = 35 * (len(frame) + 1) + 3  # every setting in sight: no scrolling inside the table
    st.dataframe(compare.highlighted(frame), hide_index=True, width="stretch", height=height)
    st.caption(
        f"{differing} setting(s) differ between the runs (highlighted)."
        if differing
        else "The runs share every setting."
    )


def scores_section(runs: list[dict[str, Any]]) -> None:
    st.subheader("MLScore breakdown", anchor=False)
    frame = compare.scores(runs)
    if frame.empty:
        st.info("None of these runs has evaluation scores yet.", icon=":material/hourglass_empty:")
        return
    chart, table = st.columns([3, 2], gap="large")
    chart.altair_chart(compare.scores_chart(frame), width="stretch")
    scores = compare.score_table(runs, frame)
    thresholds = {compare.label(r): float(r["ml_score_threshold"]) for r in runs}

    def css(value: object, threshold: float) -> str:
        if not isinstance(value, int | float):
            return "color: #9ca3af"
        text, background = ui.CELL_COLORS["green" if value >= threshold else "red"]
        return f"color: {text}; background-color: {background}"

    columns: list[Hashable] = list(thresholds)
    styler = scores.style.format(
        lambda v: ui.score(v, 3) if isinstance(v, int | float) else "—", subset=columns
    )
    for column, threshold in thresholds.items():
        styler = styler.map(css, subset=[column], threshold=threshold)
    table.dataframe(styler, hide_index=True, width="stretch")
    table.caption("Green at or above the run's threshold, red below it.")


def curves_section(runs: list[dict[str, Any]]) -> None:
    st.subheader("Training curves", anchor=False)
    frame = compare.curves(runs)
    if frame.empty:
        st.info("None of these runs has a training history (evaluation-only runs train nothing).")
        return
    loss, speed = st.columns(2)
    if frame["loss"].notna().any():
        loss.altair_chart(compare.curves_chart(frame, "loss", "Training loss"), width="stretch")
    if frame["tokens_per_second"].notna().any():
        speed.altair_chart(
            compare.curves_chart(frame, "tokens_per_second", "Tokens per second"), width="stretch"
        )
    missing = [compare.label(r) for r in runs if compare.label(r) not in set(frame["run"])]
    if missing:
        st.caption(f"No training history: {', '.join(missing)}.")


def score_text(value: object) -> str:
    """Two decimals, or "—" for no score (None or NaN: pandas turns a missing float into NaN)."""
    return ui.score(float(value), 2) if isinstance(value, int | float) and value == value else "—"


def answers_section(client: ApiClient, runs: list[dict[str, Any]]) -> None:
    st.subheader("Answers, question by question", anchor=False)
    samples: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        if not (compare.evaluation(run).get("metrics") or {}).get("samples_uri"):
            continue
        try:
            samples[run["id"]] = client.samples(run["id"])["items"]
        except ApiError as exc:
            ui.show_error(exc, f"Cannot load the samples of run #{run['id']}")
    frame = compare.answers(runs, samples)
    if frame.empty:
        st.info("None of these runs has per-sample results yet.", icon=":material/hourglass_empty:")
        return
    score_columns: list[Hashable] = [c for c in frame.columns if str(c).endswith(" score")]
    # scores as text: a styled table shows a missing number as "None"
    shown = frame.drop(columns=["Ground truth"]).assign(
        **{str(c): [score_text(v) for v in frame[c]] for c in score_columns}
    )
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="compare_answers",
        column_config={
            "Question": st.column_config.TextColumn("Question", width="medium"),
            **{str(c): st.column_config.TextColumn(str(c), width=80) for c in score_columns},
        },
    )
    st.caption(
        "Matched by question; the questions where the runs' scores differ most come first. "
        "Select a row to read the answers side by side."
    )
    selected = event.selection.rows if event is not None and hasattr(event, "selection") else []
    row = frame.iloc[selected[0] if selected else 0]
    with st.container(border=True):
        st.markdown(f"**{row['Question']}**")
        st.caption(f"Ground truth: {row['Ground truth'] or '—'}")
        for column, run in zip(st.columns(len(runs)), runs, strict=True):
            name = compare.label(run)
            column.markdown(
                f"**{name}** · {run['model_name']} · score {score_text(row.get(f'{name} score'))}"
            )
            answer = row.get(f"{name} answer")
            column.write(answer if isinstance(answer, str) and answer else "—")


def render() -> None:
    ui.page_header(
        "Compare runs", f"Pick {compare.MIN_RUNS} to {compare.MAX_RUNS} runs to see them side by side."
    )
    client = ui.client()
    ids = pick(client)
    if len(ids) < compare.MIN_RUNS:
        st.info(f"Choose at least {compare.MIN_RUNS} runs.", icon=":material/compare_arrows:")
        return
    with ui.reported("Cannot load the runs"), st.spinner("Loading the runs…"):
        runs = [client.get_run(run_id) for run_id in ids]
        dataset_names = {d["id"]: d["name"] for d in client.list_datasets()}
    links = st.columns(len(runs))
    for column, run in zip(links, runs, strict=True):
        column.page_link(
            "views/run_detail.py",
            label=f"#{run['id']} · {run['model_name']}",
            icon=":material/monitoring:",
            query_params={"id": str(run["id"])},
        )
    settings_section(runs, dataset_names)
    scores_section(runs)
    curves_section(runs)
    answers_section(client, runs)


render()

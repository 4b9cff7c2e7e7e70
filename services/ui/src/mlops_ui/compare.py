"""The Compare page's data and charts: 2 to 5 runs side by side. Pure functions of the API's data
(no Streamlit here), so the tests read them as tables."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from mlops_ui import charts

MIN_RUNS, MAX_RUNS = 2, 5
DIFFERENT = "background-color: #fef3c7; font-weight: 600"  # a row whose values differ between runs


def label(run: dict[str, Any]) -> str:
    return f"#{run['id']}"


def evaluation(run: dict[str, Any]) -> dict[str, Any]:
    return next((r for r in run.get("results", []) if r.get("stage") == "evaluation"), None) or {}


def training(run: dict[str, Any]) -> dict[str, Any]:
    return next((r for r in run.get("results", []) if r.get("stage") == "training"), None) or {}


def ml_score(run: dict[str, Any]) -> float | None:
    value = evaluation(run).get("ml_score")
    return float(value) if isinstance(value, int | float) else None


def dataset_name(dataset_id: int | None, names: dict[int, str]) -> str:
    if dataset_id is None:
        return "—"
    return f"#{dataset_id} {names[dataset_id]}" if dataset_id in names else f"#{dataset_id}"


def settings(runs: list[dict[str, Any]], dataset_names: dict[int, str]) -> pd.DataFrame:
    """One row per setting (model, data, threshold, each hyperparameter), one column per run, and
    a `differs` column: True where the runs do not all agree."""
    hyperparameters = sorted({name for run in runs for name in (run.get("hyperparameters") or {})})
    rows: list[dict[str, Any]] = []

    def row(setting: str, values: list[Any]) -> None:
        shown = ["—" if v is None else str(v) for v in values]
        rows.append(
            {
                "Setting": setting,
                **dict(zip(map(label, runs), shown, strict=True)),
                "differs": len(set(shown)) > 1,
            }
        )

    row("Status", [run["status"] for run in runs])
    row("Model name", [run["model_name"] for run in runs])
    row("Base model", [run["model_id"] for run in runs])
    row("Task", [run["task_type"] for run in runs])
    row("Experiment", [run["experiment_name"] for run in runs])
    row("Training dataset", [dataset_name(run.get("train_dataset_id"), dataset_names) for run in runs])
    row("Evaluation dataset", [dataset_name(run["eval_dataset_id"], dataset_names) for run in runs])
    row("MLScore threshold", [f"{float(run['ml_score_threshold']):.2f}" for run in runs])
    row("MLScore", [None if (s := ml_score(run)) is None else f"{s:.3f}" for run in runs])
    row("Tags", [", ".join(run.get("tags") or []) or None for run in runs])
    for name in hyperparameters:
        row(
            name,
            [
                (run.get("hyperparameters") or {}).get(name) if run["task_type"] == "finetune" else None
                for run in runs
            ],
        )
    return pd.DataFrame(rows, columns=["Setting", *map(label, runs), "differs"])


def highlighted(frame: pd.DataFrame) -> Any:
    """A Styler marking the rows whose values differ (the `differs` column itself is dropped)."""
    shown = frame.drop(columns=["differs"])
    differs = list(frame["differs"])

    def css(row: pd.Series) -> list[str]:
        return [DIFFERENT if differs[int(row.name)] else "" for _ in row]  # type: ignore[call-overload]

    return shown.style.apply(css, axis=1)


def scores(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Long form: one row per run and metric (MLScore last), with the run's threshold."""
    rows: list[dict[str, Any]] = []
    for run in runs:
        metrics = evaluation(run).get("metrics") or {}
        for name, value in (metrics.get("scores") or {}).items():
            if isinstance(value, int | float):
                rows.append(
                    {"run": label(run), "metric": name.replace("_", " ").capitalize(), "score": float(value)}
                )
        if (score := ml_score(run)) is not None:
            rows.append({"run": label(run), "metric": "MLScore", "score": score})
    frame = pd.DataFrame(rows, columns=["run", "metric", "score"])
    thresholds = {label(run): float(run["ml_score_threshold"]) for run in runs}
    return frame.assign(threshold=[thresholds[r] for r in frame["run"]])


def score_table(runs: list[dict[str, Any]], frame: pd.DataFrame) -> pd.DataFrame:
    """Metric by run: the scores of `scores()` as a table (a missing score is None)."""
    if frame.empty:
        return pd.DataFrame(columns=["Metric", *map(label, runs)])
    table = frame.pivot_table(index="metric", columns="run", values="score", aggfunc="first", sort=False)
    table = table.reindex(columns=[label(r) for r in runs])
    order = [m for m in dict.fromkeys(frame["metric"]) if m != "MLScore"] + (
        ["MLScore"] if "MLScore" in set(frame["metric"]) else []
    )
    table = table.reindex(order).reset_index().rename(columns={"metric": "Metric"})
    table.columns.name = None
    return table.astype(object).where(table.notna(), None)


def scores_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Grouped bars: each metric, one bar per run; a dashed line per run's threshold."""
    runs = list(dict.fromkeys(frame["run"]))
    order = list(dict.fromkeys(frame["metric"]))
    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("metric:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelLimit=160)),
            xOffset=alt.XOffset("run:N", sort=runs),
            y=alt.Y("score:Q", scale=alt.Scale(domain=[0, 1]), title="Score"),
            color=alt.Color("run:N", sort=runs, title="Run", legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("metric:N", title="Metric"),
                alt.Tooltip("score:Q", format=".3f"),
                alt.Tooltip("threshold:Q", title="Threshold", format=".2f"),
            ],
        )
    )
    thresholds = frame.drop_duplicates("run")[["run", "threshold"]]
    rule = (
        alt.Chart(thresholds)
        .mark_rule(strokeDash=[6, 4], size=2)
        .encode(
            y="threshold:Q",
            color=alt.Color("run:N", sort=runs, legend=None),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("threshold:Q", title="Threshold", format=".2f"),
            ],
        )
    )
    return alt.LayerChart(
        layer=[bars, rule],
        height=300,
        title=alt.Title(
            "Each run's threshold is its dashed line",
            fontSize=12,
            fontWeight="normal",
            color="#6b7280",
            anchor="start",
        ),
    )


def curves(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """The training histories of the runs, long form (run, step, loss, tokens_per_second)."""
    frames = []
    for run in runs:
        history = (training(run).get("metrics") or {}).get("history")
        if isinstance(history, list):
            frame = charts.history_frame(history)
            if not frame.empty:
                frames.append(frame.assign(run=label(run)))
    if not frames:
        return pd.DataFrame(columns=["step", "loss", "tokens_per_second", "run"])
    return pd.concat(frames, ignore_index=True)


def curves_chart(frame: pd.DataFrame, column: str, title: str) -> alt.Chart:
    data = frame[["run", "step", column]].dropna()
    runs = list(dict.fromkeys(data["run"]))
    chart: alt.Chart = (
        alt.Chart(data, title=title)
        .mark_line(strokeWidth=2)
        .encode(
            x=alt.X("step:Q", title="Step", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{column}:Q", title=title, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", sort=runs, title="Run", legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("step:Q", title="Step"),
                alt.Tooltip(f"{column}:Q", title=title, format=".4f"),
            ],
        )
        .properties(height=280)
    )
    return chart


def sample_score(item: dict[str, Any], weights: dict[str, float]) -> float | None:
    """A sample's weighted metrics, None when it was not scored."""
    if not item.get("scored", True):
        return None
    weighted = [
        (weight, float(value))
        for name, weight in weights.items()
        if isinstance(value := item.get(name), int | float) and not isinstance(value, bool)
    ]
    total = sum(weight for weight, _ in weighted)
    return sum(weight * value for weight, value in weighted) / total if weighted and total > 0 else None


def answers(runs: list[dict[str, Any]], samples: dict[int, list[dict[str, Any]]]) -> pd.DataFrame:
    """One row per question (matched by its text across the runs' evaluation sets), each run's
    answer and sample score beside it; the questions where the runs' scores spread most first."""
    by_question: dict[str, dict[str, Any]] = {}
    for run in runs:
        declared = (evaluation(run).get("metrics") or {}).get("weights")
        weights = (
            {str(k): float(v) for k, v in declared.items()}
            if isinstance(declared, dict)
            else charts.DEFAULT_WEIGHTS
        )
        for item in samples.get(run["id"], []):
            question = str(item.get("question", ""))
            row = by_question.setdefault(
                question, {"Question": question, "Ground truth": item.get("ground_truth") or ""}
            )
            row[f"{label(run)} answer"] = item.get("answer") or ""
            row[f"{label(run)} score"] = sample_score(item, weights)
    columns = ["Question", "Ground truth"]
    for run in runs:
        columns += [f"{label(run)} answer", f"{label(run)} score"]
    frame = pd.DataFrame(list(by_question.values()), columns=columns)
    if frame.empty:
        return frame
    score_columns = [f"{label(run)} score" for run in runs]
    numeric = frame[score_columns].apply(pd.to_numeric, errors="coerce")
    frame = frame.assign(_spread=(numeric.max(axis=1) - numeric.min(axis=1)).fillna(-1.0))
    frame = frame.sort_values("_spread", ascending=False, kind="stable").drop(columns="_spread")
    return frame.reset_index(drop=True)

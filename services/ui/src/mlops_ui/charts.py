"""Altair (Vega-Lite) charts of the dashboard. Pure functions of the API's data: no Streamlit here."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

PASS = "#21a366"  # noqa: S105 (a colour)
FAIL = "#d9534f"
NEUTRAL = "#4c78a8"
MUTED = "#9aa5b1"

# The MLScore formula of the platform (docs/decisions/0011-domain-facts.md), used when a result does
# not say its weights.
DEFAULT_WEIGHTS = {
    "faithfulness": 0.30,
    "answer_relevancy": 0.20,
    "context_precision": 0.25,
    "context_recall": 0.25,
}


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    """The training result's `history` ([{step, loss|train_loss, tokens_per_second, ...}])."""
    rows = []
    for point in history:
        if not isinstance(point, dict) or point.get("step") is None:
            continue
        loss = point.get("loss", point.get("train_loss"))
        rows.append(
            {
                "step": point["step"],
                "loss": loss,
                "tokens_per_second": point.get("tokens_per_second"),
            }
        )
    return pd.DataFrame(rows, columns=["step", "loss", "tokens_per_second"])


def curve(frame: pd.DataFrame, column: str, title: str, color: str = NEUTRAL) -> alt.Chart:
    data = frame[["step", column]].dropna()
    chart: alt.Chart = (
        alt.Chart(data, title=title)
        .mark_line(point=len(data) <= 40, color=color, strokeWidth=2)
        .encode(
            x=alt.X("step:Q", title="Step", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{column}:Q", title=title, scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("step:Q", title="Step"),
                alt.Tooltip(f"{column}:Q", title=title, format=".4f"),
            ],
        )
        .properties(height=260)
    )
    return chart


def score_frame(
    scores: dict[str, float | None], weights: dict[str, float] | None, ml_score: float | None
) -> pd.DataFrame:
    weights = weights or DEFAULT_WEIGHTS
    rows: list[dict[str, Any]] = []
    for name, value in scores.items():
        weight = weights.get(name)
        label = name.replace("_", " ").capitalize()
        rows.append(
            {
                "metric": f"{label} (weight {weight:.2f})" if weight is not None else label,
                "score": value,
                "kind": "metric",
            }
        )
    if ml_score is not None:
        rows.append({"metric": "MLScore", "score": ml_score, "kind": "MLScore"})
    return pd.DataFrame(rows, columns=["metric", "score", "kind"])


def mlscore_breakdown(frame: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """One bar per metric and one for MLScore, green at or above the threshold (the dashed line) and
    red below it."""
    data = frame.dropna(subset=["score"]).assign(
        verdict=lambda f: ["pass" if s >= threshold else "below" for s in f["score"]]
    )
    order = list(data["metric"])
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3, height=20)
        .encode(
            y=alt.Y("metric:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelFontSize=12)),
            x=alt.X(
                "score:Q",
                scale=alt.Scale(domain=[0, 1.08]),
                title=None,
                axis=alt.Axis(values=[0, 0.2, 0.4, 0.6, 0.8, 1], format=".1f"),
            ),
            color=alt.Color(
                "verdict:N", scale=alt.Scale(domain=["pass", "below"], range=[PASS, FAIL]), legend=None
            ),
            opacity=alt.condition(alt.datum.kind == "MLScore", alt.value(1.0), alt.value(0.7)),
            tooltip=[alt.Tooltip("metric:N", title="Metric"), alt.Tooltip("score:Q", format=".3f")],
        )
    )
    labels = bars.mark_text(align="left", dx=4, fontSize=12).encode(
        text=alt.Text("score:Q", format=".3f"), color=alt.value("#31333f"), opacity=alt.value(1.0)
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="#31333f", strokeDash=[6, 4], size=2)
        .encode(x="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="Threshold", format=".2f")])
    )
    return alt.LayerChart(
        layer=[bars, labels, rule],
        height=alt.Step(34),
        title=alt.Title(
            f"Threshold {threshold:.2f} (dashed line): green at or above, red below",
            fontSize=12,
            fontWeight="normal",
            color="#6b7280",
            anchor="start",
        ),
    )


def mlscore_trend(frame: pd.DataFrame, colors: dict[str, str]) -> alt.LayerChart:
    """MLScore across a package group's versions (columns version, ml_score, status)."""
    data = frame.dropna(subset=["ml_score"])
    line = (
        alt.Chart(data)
        .mark_line(color=MUTED, strokeWidth=2)
        .encode(
            x=alt.X("version:O", title="Version", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("ml_score:Q", title="MLScore", scale=alt.Scale(domain=[0, 1])),
        )
    )
    points = line.mark_point(filled=True, size=110).encode(
        color=alt.Color(
            "status:N",
            scale=alt.Scale(domain=list(colors), range=list(colors.values())),
            legend=alt.Legend(title="Registry status", orient="bottom"),
        ),
        tooltip=[
            alt.Tooltip("version:O", title="Version"),
            alt.Tooltip("ml_score:Q", title="MLScore", format=".3f"),
            alt.Tooltip("status:N", title="Status"),
        ],
    )
    return alt.LayerChart(layer=[line, points], height=280)

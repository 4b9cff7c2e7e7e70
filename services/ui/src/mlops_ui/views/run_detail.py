"""Run detail: timeline, training curves, the MLScore against its threshold, per-sample results,
registry status, cost, audit trail, and the approver's decision."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_ui import charts, run_notes, ui
from mlops_ui.config import get_settings

FLASH = "run_detail_flash"
STEP_LABELS = {
    "pending": "Run created",
    "training": "Training started",
    "evaluating": "Evaluation started",
    "awaiting_approval": "Waiting for approval",
    "approved": "Approved",
    "rejected": "Rejected",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


# --- data shaping ----------------------------------------------------------------------------------


def result(run: dict[str, Any], stage: str) -> dict[str, Any] | None:
    return next((r for r in run.get("results", []) if r.get("stage") == stage), None)


PROGRESS_EVENT = "run.training_progress"


def training_progress(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The training job's progress facts (one per logging window: step, total_steps, eta_seconds,
    train_loss, the MLflow run), oldest first."""
    events = sorted(
        (e for e in run.get("timeline", []) if e.get("event_type") == PROGRESS_EVENT),
        key=lambda e: (e["occurred_at"], e["id"]),
    )
    return [e.get("data") or {} for e in events]


def mlflow_run(run: dict[str, Any]) -> dict[str, Any] | None:
    """The MLflow run of the training: the training result's, else the latest progress fact's."""
    recorded = ((result(run, "training") or {}).get("metrics") or {}).get("mlflow")
    if isinstance(recorded, dict) and recorded.get("run_id"):
        return recorded
    for data in reversed(training_progress(run)):
        if isinstance(data.get("mlflow"), dict) and data["mlflow"].get("run_id"):
            return dict(data["mlflow"])
    return None


def progress_text(data: dict[str, Any]) -> str:
    parts = [f"Step {data.get('step', '?')} of {data.get('total_steps', '?')}"]
    if isinstance(data.get("train_loss"), int | float):
        parts.append(f"loss {data['train_loss']:.4f}")
    if isinstance(data.get("eta_seconds"), int | float):
        parts.append(f"about {ui.duration(data['eta_seconds'])} left")
    return " · ".join(parts)


def step_label(event: dict[str, Any]) -> str:
    kind = str(event.get("event_type", ""))
    if kind == "run.created":
        return "Run created"
    if kind == "run.status_changed" and event.get("status"):
        return STEP_LABELS.get(event["status"], ui.humanize(event["status"]))
    return ui.humanize(kind.removeprefix("run.").removeprefix("workflow."))


def timeline(run: dict[str, Any]) -> pd.DataFrame:
    events = sorted(
        (e for e in run.get("timeline", []) if e.get("event_type") != "run.annotated"),  # not a step: an edit
        key=lambda e: (e["occurred_at"], e["id"]),
    )
    # one progress step per logging window would flood the table: the latest one stands for them
    progress = [e for e in events if e.get("event_type") == PROGRESS_EVENT]
    events = [e for e in events if e.get("event_type") != PROGRESS_EVENT or e is progress[-1]]
    terminal = run["status"] not in ui.ACTIVE
    rows = []
    for i, event in enumerate(events):
        last = i == len(events) - 1
        end = events[i + 1]["occurred_at"] if not last else (None if not terminal else event["occurred_at"])
        seconds = ui.between(event["occurred_at"], end)
        if last and terminal:
            took = "—"
        elif last:
            took = f"{ui.duration(seconds)} so far"
        else:
            took = ui.duration(seconds)
        rows.append(
            {
                "Step": step_label(event),
                "Status": ui.status_text(event["status"]) if event.get("status") else "",
                "When": ui.local_time(event["occurred_at"]),
                "Duration": took,
                "By": event.get("source", ""),
                "Reason": event.get("reason") or "",
            }
        )
    return pd.DataFrame(rows, columns=["Step", "Status", "When", "Duration", "By", "Reason"])


SHORT_METRICS = {
    "faithfulness": "Faithfulness",
    "answer_relevancy": "Relevancy",
    "context_precision": "Ctx precision",
    "context_recall": "Ctx recall",
}


def metric_label(name: str) -> str:
    return SHORT_METRICS.get(name, ui.humanize(name))


def sample_frame(items: list[dict[str, Any]], weights: dict[str, float]) -> pd.DataFrame:
    """Per-sample rows, worst first: a sample's score is its weighted metrics (unscored = worst)."""
    rows = []
    for position, item in enumerate(items):
        metrics = {name: item.get(name) for name in weights}
        weighted = [
            (weight, float(value))
            for name, weight in weights.items()
            if isinstance(value := metrics[name], int | float) and not isinstance(value, bool)
        ]
        total_weight = sum(weight for weight, _ in weighted)
        sample_score: float | None = None
        if weighted and total_weight > 0 and item.get("scored", True):
            sample_score = sum(weight * value for weight, value in weighted) / total_weight
        rows.append(
            {
                "#": item.get("index", position),
                "Score": sample_score,
                **{metric_label(n): metrics[n] for n in weights},
                "Problem": item.get("error") or "",
                "Question": item.get("question", ""),
                "_position": position,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("Score", ascending=True, na_position="first", kind="stable").reset_index(
        drop=True
    )


def sample_details(item: dict[str, Any], weights: dict[str, float]) -> None:
    with st.container(border=True):
        st.markdown(f"**Sample {item.get('index', '?')}** · {item.get('question', '')}")
        left, right = st.columns(2)
        left.markdown("**Answer**")
        left.write(item.get("answer") or "—")
        right.markdown("**Ground truth**")
        right.write(item.get("ground_truth") or "—")
        contexts = item.get("contexts") or []
        if contexts:
            st.markdown("**Contexts**")
            for context in contexts:
                st.caption(str(context))
        scores = " · ".join(f"{ui.humanize(n)} {ui.score(item.get(n), 2)}" for n in weights)
        st.caption(f"{scores} · {ui.duration(item.get('seconds'))}")
        if item.get("error"):
            st.error(item["error"], icon=":material/error:")


def shown_status(run: dict[str, Any], approval: dict[str, Any] | None) -> str:
    """The status the page shows. A decision is recorded at once, but the run stays
    `awaiting_approval` until the release workflow's verdict reaches it (seconds later, through the
    outbox and the projector): meanwhile the decision is the run's state, so the header never says
    "Awaiting approval" beside a decision box that says "Approved"."""
    decided = (approval or {}).get("status")
    if run["status"] == "awaiting_approval" and decided in ("approved", "rejected"):
        return str(decided)
    return str(run["status"])


def version_of(arn: str | None) -> str | None:
    if not arn or "/" not in arn:
        return None
    tail = arn.rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None


# --- sections --------------------------------------------------------------------------------------


def overview(run: dict[str, Any], approval: dict[str, Any] | None) -> None:
    evaluation = result(run, "evaluation")
    training = result(run, "training")
    ml_score = (evaluation or {}).get("ml_score")
    if ml_score is None and approval:
        ml_score = approval.get("ml_score")
    threshold = float(run["ml_score_threshold"])
    costs = {
        "judge": ((evaluation or {}).get("metrics") or {}).get("cost_usd"),
        "training": ((training or {}).get("metrics") or {}).get("cost_usd"),
    }
    known = {k: float(v) for k, v in costs.items() if isinstance(v, int | float)}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "MLScore",
        ui.score(ml_score),
        delta=f"{ml_score - threshold:+.3f} vs threshold {threshold:.2f}" if ml_score is not None else None,
        delta_color="normal" if ml_score is not None else "off",
        border=True,
    )
    c2.metric(
        "Duration",
        ui.duration(ui.between(run.get("started_at") or run["created_at"], run.get("finished_at"))),
        help="From the start of the workflow to the end (or now, while it runs)",
        border=True,
    )
    c3.metric(
        "Cost",
        ui.money(sum(known.values())) if known else "—",
        help=" · ".join(f"{k}: {ui.money(v)}" for k, v in known.items()) or "No cost reported yet",
        border=True,
    )
    verdict, by = "—", None
    if approval and approval.get("status") != "pending":
        verdict = ui.humanize(approval["status"])
        by = f"by {approval.get('decided_by') or approval.get('status')}"
    elif run["status"] == "awaiting_approval":
        verdict = "Pending"
    c4.metric("Decision", verdict, delta=by, delta_color="off", delta_arrow="off", border=True)


def timeline_section(run: dict[str, Any]) -> None:
    st.subheader("Timeline", anchor=False)
    steps = timeline(run)
    if steps.empty:
        st.info("No step recorded yet.")
        return
    columns = ["Step", "When", "Duration", "By"] + (["Reason"] if steps["Reason"].astype(bool).any() else [])
    st.dataframe(
        steps[columns],
        hide_index=True,
        width="stretch",
        column_config={
            "When": st.column_config.DatetimeColumn("When", format="MMM D, HH:mm:ss"),
        },
    )


def score_section(run: dict[str, Any], approval: dict[str, Any] | None) -> None:
    st.subheader("MLScore breakdown", anchor=False)
    evaluation = result(run, "evaluation")
    metrics = (evaluation or {}).get("metrics") or {}
    scores = metrics.get("scores") or (approval or {}).get("scores") or {}
    ml_score = (evaluation or {}).get("ml_score")
    if ml_score is None:
        ml_score = (approval or {}).get("ml_score")
    if not scores and ml_score is None:
        error = metrics.get("error")
        if isinstance(error, dict) and error.get("reason"):
            st.error(f"The evaluation failed: {error['reason']}", icon=":material/error:")
        else:
            st.info("No evaluation scores yet.", icon=":material/hourglass_empty:")
        return
    weights = metrics.get("weights") if isinstance(metrics.get("weights"), dict) else None
    frame = charts.score_frame(scores, weights, ml_score)
    st.altair_chart(charts.mlscore_breakdown(frame, float(run["ml_score_threshold"])), width="stretch")
    facts = []
    if metrics.get("samples") is not None:
        facts.append(f"{metrics.get('scored_samples', '?')} of {metrics['samples']} samples scored")
    judge = metrics.get("judge")
    if isinstance(judge, dict) and judge.get("kind"):
        facts.append(f"judge: {judge.get('model') or judge['kind']}")
    if facts:
        st.caption(" · ".join(facts))


TRAINING_LABELS = {
    "train_loss": "Final loss",
    "train_runtime_seconds": "Runtime",
    "train_tokens_per_second": "Tokens per second",
    "train_steps": "Steps",
    "cost_usd": "Cost",
    "peak_gpu_memory_gb": "Peak GPU memory (GB)",
}


def training_value(key: str, value: float | int | str) -> str:
    if isinstance(value, str):
        return value
    if key == "train_runtime_seconds":
        return ui.duration(float(value))
    if key == "cost_usd":
        return ui.money(float(value))
    if key == "train_steps":
        return f"{int(value):,}"
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


def training_section(run: dict[str, Any]) -> None:
    st.subheader("Training", anchor=False)
    if run["task_type"] != "finetune":
        st.caption("Evaluation-only run: no training.")
        return
    mlflow_link(run)
    training = result(run, "training")
    if training is None:
        live_progress(run)
        return
    metrics = training.get("metrics") or {}
    history = metrics.get("history")
    frame = charts.history_frame(history) if isinstance(history, list) else None
    loss_col, speed_col, summary_col = st.columns([2, 2, 1.4])
    if frame is not None and not frame.empty:
        if frame["loss"].notna().any():
            loss_col.altair_chart(charts.curve(frame, "loss", "Training loss"), width="stretch")
        if frame["tokens_per_second"].notna().any():
            speed_col.altair_chart(
                charts.curve(frame, "tokens_per_second", "Tokens per second", color="#f58518"),
                width="stretch",
            )
    else:
        loss_col.caption("No training curve was recorded for this run (its result has no step history).")
    summary = [
        {"Metric": TRAINING_LABELS.get(k, ui.humanize(k)), "Value": training_value(k, v)}
        for k, v in metrics.items()
        if isinstance(v, int | float | str) and not isinstance(v, bool)
    ]
    if summary:
        summary_col.dataframe(pd.DataFrame(summary), hide_index=True, width="stretch")


def live_progress(run: dict[str, Any]) -> None:
    """While the job trains: its step, total steps and ETA, and the loss so far."""
    progress = training_progress(run)
    if not progress:
        st.info("No training result yet.", icon=":material/hourglass_empty:")
        return
    latest = progress[-1]
    step, total = latest.get("step"), latest.get("total_steps")
    if isinstance(step, int) and isinstance(total, int) and total > 0:
        st.progress(min(step / total, 1.0), text=progress_text(latest))
    else:
        st.caption(progress_text(latest))
    frame = charts.history_frame([p for p in progress if p.get("train_loss") is not None])
    if not frame.empty:
        st.altair_chart(charts.curve(frame, "loss", "Training loss so far"), width="stretch")


def mlflow_link(run: dict[str, Any]) -> None:
    linked = mlflow_run(run)
    if linked is None:
        return
    if linked.get("url"):
        st.link_button("Open the MLflow run", str(linked["url"]), icon=":material/open_in_new:")
    st.caption(f"MLflow run `{linked['run_id']}` (experiment {linked.get('experiment_id') or '?'})")


def samples_section(client: ApiClient, run: dict[str, Any]) -> None:
    st.subheader("Per-sample results", anchor=False)
    evaluation = result(run, "evaluation")
    metrics = (evaluation or {}).get("metrics") or {}
    if not metrics.get("samples_uri"):
        st.info("No per-sample results yet.", icon=":material/hourglass_empty:")
        return
    try:
        with st.spinner("Loading the samples…"):
            samples = client.samples(run["id"])
    except ApiError as exc:
        ui.show_error(exc, "Cannot load the samples")
        return
    declared = metrics.get("weights")
    weights: dict[str, float] = (
        {str(k): float(v) for k, v in declared.items()}
        if isinstance(declared, dict)
        else charts.DEFAULT_WEIGHTS
    )
    frame = sample_frame(samples["items"], weights)
    if frame.empty:
        st.info("The evaluation has no samples.")
        return
    names = ["Score", *[metric_label(n) for n in weights]]
    shown = [
        c
        for c in frame.columns
        if c != "_position" and (c != "Problem" or frame["Problem"].astype(bool).any())
    ]
    event = st.dataframe(
        ui.scored(frame[shown], names, float(run["ml_score_threshold"])),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"samples_{run['id']}",
        column_config={
            "#": st.column_config.NumberColumn("#", width=50),
            **{
                name: st.column_config.NumberColumn(name, width=125 if len(name) > 12 else 95)
                for name in names
            },
            "Question": st.column_config.TextColumn("Question", width="large"),
            "Problem": st.column_config.TextColumn("Problem", width=140),
        },
    )
    note = "Worst first (unscored samples on top), coloured against the run's threshold; select a row to read it."
    if samples.get("truncated"):
        note += f" Showing {len(samples['items'])} of {samples['total']} samples."
    st.caption(note)
    selected = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if selected:
        sample_details(samples["items"][int(frame.iloc[selected[0]]["_position"])], weights)


def registry_section(client: ApiClient, run: dict[str, Any], approval: dict[str, Any] | None) -> None:
    st.subheader("Model registry", anchor=False)
    arn = (approval or {}).get("model_package_arn")
    try:
        versions = client.model_versions(run["model_name"])["items"]
    except ApiError as exc:
        if exc.status_code == 404:
            st.info(
                f"The package group **{run['model_name']}** is not in the registry yet.",
                icon=":material/inventory_2:",
            )
        else:
            ui.show_error(exc, "Cannot read the model registry")
        return
    match = next((v for v in versions if arn and v["arn"] == arn), None) or next(
        (v for v in versions if str(v.get("run_id")) == str(run["id"])), None
    )
    if match is None:
        st.info("This run has no model package in the registry yet.", icon=":material/inventory_2:")
        return
    left, right = st.columns([1, 2], gap="large")
    with left:
        ui.badge(match.get("approval_status"), ui.REGISTRY_STATUS)
        st.markdown(f"**{run['model_name']}** version **{match['version']}**")
        if match.get("approval_description"):
            st.caption(match["approval_description"])
        st.caption(f"Registered {ui.when(match.get('created_at'))}")
    with right:
        metadata = match.get("metadata") or {}
        if metadata:
            st.dataframe(
                pd.DataFrame([{"Property": k, "Value": v} for k, v in sorted(metadata.items())]),
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption("No metadata.")
    st.caption(f"Package ARN: `{match['arn']}`")


def audit_section(client: ApiClient, run: dict[str, Any]) -> None:
    st.subheader("Audit trail", anchor=False)
    try:
        entries = client.audit(run["id"])
    except ApiError as exc:
        ui.show_error(exc, "Cannot load the audit trail")
        return
    if not entries:
        st.caption("No approval activity yet.")
        return
    frame = pd.DataFrame(
        [
            {
                "When": ui.local_time(e["occurred_at"]),
                "Action": ui.humanize(e["action"]),
                "Who": e["actor"],
                "Via": ui.humanize(e["via"]),
                "MLScore": e["ml_score"],
                "Threshold": e["ml_score_threshold"],
                "Comment": e.get("comment") or "",
            }
            for e in entries
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        placeholder="",
        column_config={
            "When": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
            "MLScore": st.column_config.NumberColumn("MLScore", format="%.3f"),
            "Threshold": st.column_config.NumberColumn("Threshold", format="%.2f"),
            "Comment": st.column_config.TextColumn("Comment", width="large"),
        },
    )


def configuration_section(run: dict[str, Any]) -> None:
    with st.expander("Configuration", icon=":material/tune:"):
        left, right = st.columns(2)
        general = {
            "Base model": run["model_id"],
            "Task": "Fine-tune + evaluate" if run["task_type"] == "finetune" else "Evaluate only",
            "Experiment": run["experiment_name"],
            "Training dataset": f"#{run['train_dataset_id']}" if run.get("train_dataset_id") else "—",
            "Evaluation dataset": f"#{run['eval_dataset_id']}",
            "MLScore threshold": f"{run['ml_score_threshold']:.2f}",
            "Launched by": run["created_by"],
            "Workflow execution": run.get("execution_arn") or "—",
        }
        left.dataframe(
            pd.DataFrame([{"Setting": k, "Value": v} for k, v in general.items()]),
            hide_index=True,
            width="stretch",
        )
        hp = run.get("hyperparameters") or {}
        if run["task_type"] == "finetune" and hp:
            right.dataframe(
                pd.DataFrame([{"Hyperparameter": ui.humanize(k), "Value": str(v)} for k, v in hp.items()]),
                hide_index=True,
                width="stretch",
            )


# --- the decision ----------------------------------------------------------------------------------


def decision_section(client: ApiClient, run: dict[str, Any], approval: dict[str, Any] | None) -> None:
    if approval is not None and approval.get("status") != "pending":
        decided = approval.get("decided_at")
        how = f" via {approval['decision_via']}" if approval.get("decision_via") else ""
        comment = f': "{approval["comment"]}"' if approval.get("comment") else ""
        text = (
            f"**{ui.humanize(approval['status'])}** by {approval.get('decided_by') or '—'}{how}"
            f" on {ui.when(decided)}{comment}"
        )
        if approval["status"] == "approved":
            st.success(text, icon=":material/verified:")
        else:
            st.warning(text, icon=":material/block:")
        return
    if run["status"] != "awaiting_approval" or approval is None:
        return
    run_id = run["id"]
    with st.container(border=True):
        st.markdown("#### :material/gavel: Decision")
        st.markdown(
            f"MLScore **{approval['ml_score']:.3f}** (threshold {approval['ml_score_threshold']:.2f}). "
            f"The workflow waits until **{ui.when(approval['expires_at'])}**; without a decision the "
            "model is rejected."
        )
        if not ui.can(ui.CAN_APPROVE):
            role = (ui.principal() or {}).get("role", "?")
            st.info(f"An approver decides; your role is **{role}**.", icon=":material/lock:")
            return
        pending_key = f"decision_{run_id}"
        comment_key = f"decision_comment_{run_id}"
        comment = st.text_area(
            "Comment",
            key=comment_key,
            placeholder="Why (required to reject; recorded in the audit trail)",
            max_chars=4000,
        )
        pending = st.session_state.get(pending_key)
        if pending == "reject_needs_comment":
            st.markdown(":red[:material/error: A rejection needs a comment saying why.]")
        if pending in ("approve", "reject"):
            verb = "Approve" if pending == "approve" else "Reject"
            consequence = (
                "The model package becomes **Approved** and is tagged for production."
                if pending == "approve"
                else "The model package becomes **Rejected**."
            )
            st.warning(
                f"{verb} run #{run_id} ({run['model_name']})? {consequence} This cannot be undone.",
                icon=":material/warning:",
            )
            yes, no, _ = st.columns([1, 1, 4])
            confirmed = yes.button(
                f"Confirm {'approval' if pending == 'approve' else 'rejection'}",
                type="primary",
                key=f"confirm_{run_id}",
                width="stretch",
            )
            if no.button("Cancel", key=f"cancel_{run_id}", width="stretch"):
                st.session_state.pop(pending_key, None)
                st.rerun()
            if confirmed:
                try:
                    with st.spinner("Recording the decision and answering the release workflow…"):
                        if pending == "approve":
                            decided = client.approve(run_id, comment.strip() or None)
                        else:
                            decided = client.reject(run_id, comment.strip())
                except ApiError as exc:
                    st.session_state.pop(pending_key, None)
                    ui.show_error(exc, "The decision was not recorded")
                    return
                st.session_state.pop(pending_key, None)
                st.session_state[FLASH] = f"Run #{run_id} {decided['status']} by {decided.get('decided_by')}."
                st.rerun()
            return
        a, r, _ = st.columns([1, 1, 4])
        if a.button(
            "Approve", type="primary", icon=":material/check:", key=f"approve_{run_id}", width="stretch"
        ):
            st.session_state[pending_key] = "approve"
            st.rerun()
        if r.button("Reject", icon=":material/close:", key=f"reject_{run_id}", width="stretch"):
            st.session_state[pending_key] = "reject" if comment.strip() else "reject_needs_comment"
            st.rerun()


# --- cancel ----------------------------------------------------------------------------------------


def cancel_section(client: ApiClient, run: dict[str, Any]) -> None:
    """A Cancel button for an active run, to those who may cancel, behind a confirmation."""
    if run["status"] not in ui.ACTIVE or not ui.can(ui.CAN_CANCEL):
        return
    run_id = run["id"]
    pending_key = f"cancel_run_pending_{run_id}"
    if not st.session_state.get(pending_key):
        if st.button("Cancel run", icon=":material/stop_circle:", key=f"cancel_run_{run_id}"):
            st.session_state[pending_key] = True
            st.rerun()
        return
    with st.container(border=True):
        st.warning(
            f"Cancel run #{run_id} ({run['model_name']})? Its workflow and training job are stopped, its "
            "approval links stop working and its candidate model package becomes **Rejected**. "
            "This cannot be undone.",
            icon=":material/warning:",
        )
        reason = st.text_input("Reason", key=f"cancel_run_reason_{run_id}", max_chars=1000)
        yes, no, _ = st.columns([1, 1, 4])
        confirmed = yes.button(
            "Confirm cancel", type="primary", key=f"confirm_cancel_run_{run_id}", width="stretch"
        )
        if no.button("Keep running", key=f"keep_run_{run_id}", width="stretch"):
            st.session_state.pop(pending_key, None)
            st.rerun()
        if confirmed:
            st.session_state.pop(pending_key, None)
            try:
                with st.spinner("Cancelling the run and stopping its workflow…"):
                    cancelled = client.cancel_run(run_id, reason.strip() or None)
            except ApiError as exc:
                ui.show_error(exc, "The run was not cancelled")
                return
            st.session_state[FLASH] = (
                f"Run #{run_id} {cancelled['status']}: {cancelled.get('status_reason')}."
            )
            st.rerun()


# --- the page --------------------------------------------------------------------------------------


def pick_run(client: ApiClient) -> int | None:
    with ui.reported("Cannot load the runs"):
        runs, _ = client.list_runs(limit=50, max_items=50)
    if not runs:
        st.info("No runs yet. Launch one from the **Launch** page.", icon=":material/rocket_launch:")
        return None
    choice = st.selectbox(
        "Run",
        runs,
        index=None,
        placeholder="Choose a run",
        format_func=lambda r: f"#{r['id']} · {r['model_name']} · {ui.style(r['status']).label}",
        key="pick_run",
    )
    return int(choice["id"]) if choice else None


def render() -> None:
    client = ui.client()
    raw = st.query_params.get("id")
    run_id = int(raw) if raw and raw.isdigit() else None
    if run_id is None:
        ui.page_header("Run detail", "Choose a run to follow.")
        run_id = pick_run(client)
        if run_id is None:
            return
        st.query_params["id"] = str(run_id)

    with ui.reported(f"Cannot load run #{run_id}"):
        run = client.get_run(run_id)
        approval = client.approval(run_id)

    title, action = st.columns([5, 1], vertical_alignment="bottom")
    with title:
        st.title(f"Run #{run['id']} · {run['model_name']}", anchor=False)
    with action:
        st.page_link("views/runs.py", label="All runs", icon=":material/arrow_back:")
        if ui.can(ui.CAN_LAUNCH):  # the Launch form prefilled from this run
            st.page_link(
                "views/launch.py",
                label="Clone",
                icon=":material/content_copy:",
                query_params={"clone": str(run_id)},
            )
        st.page_link(
            "views/compare.py",
            label="Compare",
            icon=":material/compare_arrows:",
            query_params={"ids": str(run_id)},
        )
    status = shown_status(run, approval)
    ui.badge(status)
    task = "Fine-tune + evaluate" if run["task_type"] == "finetune" else "Evaluate only"
    st.caption(
        f"{task} · experiment **{run['experiment_name']}** · base model `{run['model_id']}` · "
        f"launched by {run['created_by']} on {ui.when(run['created_at'])}"
    )
    if status != run["status"]:
        st.caption("Decided: the release workflow is applying the decision to the run and its model package.")
    elif run.get("status_reason"):
        st.caption(f"Reason: {run['status_reason']}")
    run_notes.show(run)
    if flash := st.session_state.pop(FLASH, None):
        st.success(flash, icon=":material/check_circle:")
    run_notes.editor(client, run, [])

    decision_section(client, run, approval)
    cancel_section(client, run)

    loaded_status = run["status"]
    active = loaded_status in ui.ACTIVE

    @st.fragment(run_every=get_settings().refresh_seconds if active else None)
    def live() -> None:
        current, current_approval = run, approval
        if active:
            try:
                current = client.get_run(run_id)
                current_approval = client.approval(run_id)
            except ApiError as exc:
                ui.show_error(exc, "Cannot refresh the run")
                return
            if current["status"] != loaded_status or (current_approval or {}).get("status") != (
                approval or {}
            ).get("status"):
                st.rerun()  # the whole page: the decision panel depends on the status
        overview(current, current_approval)
        left, right = st.columns(2, gap="large")
        with left:
            timeline_section(current)
        with right:
            score_section(current, current_approval)
        training_section(current)
        samples_section(client, current)
        if active:
            st.caption(f"Refreshing every {get_settings().refresh_seconds:g} s while the run is active.")

    live()
    registry_section(client, run, approval)
    audit_section(client, run)
    configuration_section(run)


render()

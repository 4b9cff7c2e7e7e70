"""Clone a run: the Launch form prefilled from it (`/launch?clone=42`, the run page's Clone
button). The form's widgets read their values from the session, so the prefill writes the run's
settings under the widgets' keys once, before they are drawn; the person then edits and launches."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlops_contracts.api_client import ApiClient

APPLIED = "launch_cloned_from"


def requested() -> int | None:
    raw = st.query_params.get("clone")
    return int(raw) if raw and raw.isdigit() else None


def form_values(
    run: dict[str, Any],
    hyperparameter_specs: dict[str, Any],
    train_sets: list[dict[str, Any]],
    eval_sets: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[str]]:
    """The Launch form's widget values for `run` (by widget key), and what could not be carried
    over (a dataset no longer listed)."""
    values: dict[str, Any] = {
        "launch_task": run["task_type"],
        "launch_model_name": run["model_name"],
        "launch_model_id": run["model_id"],
        "launch_experiment": run["experiment_name"],
        "launch_threshold": float(run["ml_score_threshold"]),
    }
    missing: list[str] = []
    for key, dataset_id, choices, what in (
        ("launch_train", run.get("train_dataset_id"), train_sets, "training"),
        ("launch_eval", run["eval_dataset_id"], eval_sets, "evaluation"),
    ):
        if dataset_id is None:
            continue
        match = next((d for d in choices if d["id"] == dataset_id), None)
        if match is None:
            missing.append(f"the {what} dataset #{dataset_id}")
        else:
            values[key] = match
    for name, value in (run.get("hyperparameters") or {}).items():
        spec = hyperparameter_specs.get(name)
        if spec is None or value is None:
            continue  # a setting the form does not show
        if isinstance(value, bool | str):  # a switch (QLoRA...) or a choice (the GPU instance)
            values[f"hp_{name}"] = value
        elif isinstance(value, int | float):
            values[f"hp_{name}"] = int(value) if spec.get("type") == "integer" else float(value)
    return values, missing


def prefill(
    client: ApiClient,
    hyperparameter_specs: dict[str, Any],
    train_sets: list[dict[str, Any]],
    eval_sets: list[dict[str, Any]],
) -> None:
    """Writes the cloned run's settings into the form once per run asked for; says what it did."""
    run_id = requested()
    if run_id is None:
        return
    if st.session_state.get(APPLIED) != run_id:
        run = client.get_run(run_id)
        values, missing = form_values(run, hyperparameter_specs, train_sets, eval_sets)
        st.session_state.update(values)
        st.session_state[APPLIED] = run_id
        st.session_state[f"{APPLIED}_missing"] = missing
    missing = st.session_state.get(f"{APPLIED}_missing") or []
    note = f"Prefilled from run **#{run_id}**: change what you want to try, then launch."
    if missing:
        note += f" Not carried over: {', '.join(missing)} (no longer registered)."
    st.info(note, icon=":material/content_copy:")

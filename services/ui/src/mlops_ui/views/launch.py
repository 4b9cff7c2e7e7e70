"""Launch: a run's form. Defaults and bounds of the hyperparameters come from the API's own OpenAPI
schema (one source of truth); the API's validation errors are shown next to their field."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlops_contracts import gpu_sizing
from mlops_contracts.api_client import ApiError
from mlops_ui import clone, ui

ERRORS = "launch_errors"
LAUNCHED = "launch_last_run"

# label, help, printf format of the number input (None: integer)
HYPERPARAMETERS: dict[str, tuple[str, str, str | None]] = {
    "epochs": ("Epochs", "Passes over the training set", None),
    "batch_size": ("Batch size", "Examples per device step, packed or not", None),
    "gradient_accumulation_steps": ("Gradient accumulation", "Steps accumulated per optimizer update", None),
    "learning_rate": ("Learning rate", "Peak learning rate of the LoRA adapters", "%.1e"),
    "lora_r": ("LoRA rank (r)", "Rank of the low-rank adapters", None),
    "lora_alpha": ("LoRA alpha", "Scaling of the adapters (often twice r)", None),
    "lora_dropout": ("LoRA dropout", "Dropout on the adapters' input", "%.2f"),
    "max_seq_length": ("Max sequence length", "Tokens per training sequence", None),
    "warmup_ratio": ("Warm-up ratio", "Share of steps with a rising learning rate", "%.2f"),
    "seed": ("Seed", "Random seed (reproducibility)", None),
    "max_runtime_seconds": ("Max runtime (s)", "The training job is stopped after this", None),
}


@st.cache_data(ttl=300, show_spinner=False)
def schema(api_url: str) -> dict[str, Any]:
    """Hyperparameter and threshold defaults/bounds from the API's OpenAPI document."""
    document = ui.client("").openapi()
    components = document.get("components", {}).get("schemas", {})
    return {
        "hyperparameters": components.get("Hyperparameters", {}).get("properties", {}),
        "run": components.get("FinetuneRunCreate", {}).get("properties", {}),
    }


def field_error(name: str) -> None:
    message = st.session_state.get(ERRORS, {}).get("fields", {}).get(name)
    if message:
        st.markdown(f":red[:material/error: {message}]")


def number(name: str, spec: dict[str, Any], label: str, help_text: str, fmt: str | None) -> float | int:
    is_int = spec.get("type") == "integer"
    default = spec.get("default", 0)
    kwargs: dict[str, Any] = {"help": help_text, "key": f"hp_{name}"}
    if "minimum" in spec:
        kwargs["min_value"] = int(spec["minimum"]) if is_int else float(spec["minimum"])
    if "maximum" in spec:
        kwargs["max_value"] = int(spec["maximum"]) if is_int else float(spec["maximum"])
    if is_int:
        value: float | int = st.number_input(label, value=int(default), step=1, **kwargs)
    else:
        step = 1e-5 if fmt == "%.1e" else 0.01
        value = st.number_input(label, value=float(default), step=step, format=fmt or "%.4f", **kwargs)
    field_error(f"hyperparameters.{name}")
    return value


def gpu_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """The instance type and the memory switches (the API's defaults), inside the form."""
    values: dict[str, Any] = {}
    g1, g2, g3 = st.columns([2, 1, 1])
    if "instance_type" in spec:
        names = sorted(gpu_sizing.GPU_INSTANCES)
        default = spec["instance_type"].get("default", gpu_sizing.DEFAULT_TRAINING_INSTANCE)
        with g1:
            values["instance_type"] = st.selectbox(
                "GPU instance",
                names,
                index=names.index(default) if default in names else 0,
                format_func=lambda n: gpu_sizing.GPU_INSTANCES[n].describe(),
                help="SageMaker instance the job trains on (one GPU of it)",
                key="hp_instance_type",
            )
            field_error("hyperparameters.instance_type")
    for column, name, label, help_text in (
        (g2, "qlora", "QLoRA (4-bit)", "4-bit NF4 base weights: a 7B model in ~4 GB"),
        (g3, "gradient_checkpointing", "Gradient checkpointing", "Far less activation memory, ~30% slower"),
    ):
        if name in spec:
            with column:
                values[name] = st.checkbox(
                    label, value=bool(spec[name].get("default", False)), help=help_text, key=f"hp_{name}"
                )
    return values


def show_estimate(model_id: str, hyperparameters: dict[str, Any]) -> None:
    """The GPU memory the run needs against its instance (mlops_contracts.gpu_sizing, the same
    estimate POST /runs refuses a run with), before launching."""
    config = gpu_sizing.model_config_for(model_id.strip())
    if config is None or "instance_type" not in hyperparameters:
        st.caption(
            ":material/memory: No GPU memory estimate: the model's shape is not known here "
            "(the training job checks it against its GPU before loading the weights)."
        )
        return
    try:
        verdict = gpu_sizing.check(
            model_id.strip(),
            config,
            hyperparameters["instance_type"],
            gpu_sizing.TrainingSetup.from_hyperparameters(hyperparameters),
        )
    except gpu_sizing.SizingError as exc:
        st.warning(f"No GPU memory estimate: {exc}", icon=":material/memory:")
        return
    gpu = verdict.instance
    headline = (
        f"GPU memory estimate: **{verdict.estimate.total_gib:.1f} GiB** of "
        f"{gpu.usable_gib:.1f} GiB usable on {gpu.describe()}"
    )
    if verdict.fits:
        st.success(f"{headline}: fits.", icon=":material/memory:")
    else:
        fixes = "; ".join(f.describe() for f in verdict.fixes) or "none found"
        st.warning(
            f"{headline}: **does not fit**, the API will refuse it. Configurations that fit: {fixes}",
            icon=":material/memory:",
        )
    st.caption(f"Where it goes (GiB): {verdict.estimate.breakdown()}.")


def dataset_label(dataset: dict[str, Any]) -> str:
    return f"#{dataset['id']} · {dataset['name']} ({dataset['row_count']} rows, {dataset['format']})"


def render() -> None:
    ui.page_header(
        "Launch a run", "Fine-tune a model with LoRA and evaluate it, or evaluate a model as it is."
    )
    if not ui.can(ui.CAN_LAUNCH):
        role = (ui.principal() or {}).get("role", "?")
        st.warning(
            f"Your role (**{role}**) may not launch runs; an operator or admin key can.",
            icon=":material/lock:",
        )
        return
    from mlops_ui.config import get_settings

    client = ui.client()
    with ui.reported("Cannot prepare the form"):
        spec = schema(get_settings().api_url)
        train_sets = client.list_datasets("train")
        eval_sets = client.list_datasets("eval")
        clone.prefill(client, spec["hyperparameters"], train_sets, eval_sets)  # /launch?clone=<run id>

    launched = st.session_state.get(LAUNCHED)
    if launched:
        with st.container(border=True):
            st.success(
                f"Run **#{launched['id']}** launched: it is **{launched['status']}**.",
                icon=":material/check_circle:",
            )
            st.page_link(
                "views/run_detail.py",
                label=f"Open run #{launched['id']}",
                icon=":material/monitoring:",
                query_params={"id": str(launched["id"])},
            )

    errors = st.session_state.get(ERRORS, {})
    if errors.get("message"):
        st.error(f"The API refused the run: {errors['message']}", icon=":material/error:")

    task = (
        st.segmented_control(
            "Task",
            ["finetune", "eval_only"],
            default="finetune",
            format_func=lambda t: "Fine-tune + evaluate" if t == "finetune" else "Evaluate only",
            key="launch_task",
        )
        or "finetune"
    )
    if not eval_sets or (task == "finetune" and not train_sets):
        missing = "an evaluation dataset" if not eval_sets else "a training dataset"
        st.info(f"Upload {missing} on the **Datasets** page first.", icon=":material/dataset:")
        st.page_link("views/datasets.py", label="Go to Datasets", icon=":material/upload:")
        return

    with st.form("launch", border=True):
        st.markdown("##### Model")
        c1, c2 = st.columns(2)
        with c1:
            model_name = st.text_input(
                "Model name",
                value="mistral-7b-rag-qa",
                help="The registry package group: letters, digits and hyphens, at most 63",
                key="launch_model_name",
            )
            field_error("model_name")
        with c2:
            model_id = st.text_input(
                "Base model id",
                value=get_settings().default_base_model,
                help="A hub id, an s3:// URI or an absolute local path (suggested: DEFAULT_BASE_MODEL)",
                key="launch_model_id",
            )
            field_error("model_id")
        c3, c4 = st.columns(2)
        with c3:
            experiment = st.text_input("Experiment", value="rag-qa", key="launch_experiment")
            field_error("experiment_name")
        with c4:
            threshold_spec = spec["run"].get("ml_score_threshold", {})
            threshold = st.slider(
                "MLScore threshold",
                min_value=float(threshold_spec.get("minimum", 0.0)),
                max_value=float(threshold_spec.get("maximum", 1.0)),
                value=float(threshold_spec.get("default", 0.7)),
                step=0.01,
                help="At or above: a person decides; below: rejected automatically",
                key="launch_threshold",
            )
            field_error("ml_score_threshold")

        st.markdown("##### Data")
        d1, d2 = st.columns(2)
        train_id = None
        with d1:
            if task == "finetune":
                train = st.selectbox(
                    "Training dataset", train_sets, format_func=dataset_label, key="launch_train"
                )
                train_id = train["id"] if train else None
                field_error("train_dataset_id")
            else:
                st.caption("Evaluate only: no training dataset.")
        with d2:
            evaluation = st.selectbox(
                "Evaluation dataset", eval_sets, format_func=dataset_label, key="launch_eval"
            )
            field_error("eval_dataset_id")

        hyperparameters: dict[str, Any] = {}
        if task == "finetune":
            st.markdown("##### Hyperparameters")
            st.caption("Defaults are the API's; bounds keep a typo from burning GPU hours.")
            names = [n for n in HYPERPARAMETERS if n in spec["hyperparameters"]]
            columns = st.columns(4)
            for i, name in enumerate(names):
                label, help_text, fmt = HYPERPARAMETERS[name]
                with columns[i % 4]:
                    hyperparameters[name] = number(name, spec["hyperparameters"][name], label, help_text, fmt)
            hyperparameters |= gpu_settings(spec["hyperparameters"])
            show_estimate(model_id, hyperparameters)

        b1, b2 = st.columns([1, 4])
        with b1:
            submitted = st.form_submit_button("Launch run", type="primary", icon=":material/rocket_launch:")
        with b2:  # a form reruns only on a submit: this one refreshes the estimate without launching
            st.form_submit_button("Update estimate", icon=":material/memory:")

    if submitted:
        body: dict[str, Any] = {
            "model_name": model_name.strip(),
            "model_id": model_id.strip(),
            "task_type": task,
            "experiment_name": experiment.strip(),
            "eval_dataset_id": evaluation["id"] if evaluation else None,
            "ml_score_threshold": round(float(threshold), 4),
        }
        if task == "finetune":
            body["train_dataset_id"] = train_id
            body["hyperparameters"] = hyperparameters
        try:
            with st.spinner("Launching the run…"):
                run = client.create_run(body)
        except ApiError as exc:
            if exc.status_code == 422 or exc.status_code == 400:
                st.session_state[ERRORS] = {
                    "fields": exc.field_errors,
                    "message": exc.message if not exc.field_errors else "check the highlighted fields",
                }
                st.session_state.pop(LAUNCHED, None)
                st.rerun()
            ui.show_error(exc, "The run was not launched")
            return
        st.session_state.pop(ERRORS, None)
        st.session_state[LAUNCHED] = run
        st.rerun()


render()

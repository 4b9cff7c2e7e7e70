"""Every page of the dashboard, run with Streamlit's AppTest against the real API (a server process
on a real PostgreSQL and the AWS emulator): nothing is mocked."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from mlops_testkit.api import EVAL_ROW, QA_ROW, Clients, jsonl
from mlops_testkit.servers import WaitingTask

pytestmark = pytest.mark.usefixtures("clean")


# --- sign-in ---------------------------------------------------------------------------------------


def test_sign_in_checks_the_key_with_the_api(app, clients: Clients, kit) -> None:
    at = app()
    kit.no_exception(at)
    assert at.title[0].value.endswith("MLOps release platform")
    assert at.text_input(key="sign_in_key").proto.type == 1  # a password field

    at.text_input(key="sign_in_key").set_value("mlk_not-a-real-key")
    at.button[0].click().run()
    assert "not accepted" in at.error[0].value
    assert "principal" not in at.session_state

    at.text_input(key="sign_in_key").set_value(clients.keys["viewer"])
    at.button[0].click().run()
    kit.no_exception(at)
    assert at.session_state["principal"]["role"] == "viewer"
    assert at.title[0].value == "Runs"  # the default page
    assert "Signed in as" in kit.texts(at)

    at.button(key="sign_out").click().run()
    assert "principal" not in at.session_state
    assert at.text_input(key="sign_in_key")


def test_an_unreachable_api_is_a_readable_message(app, clients: Clients, kit, monkeypatch) -> None:
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    at = app()
    at.text_input(key="sign_in_key").set_value(clients.keys["viewer"])
    at.button[0].click().run()
    kit.no_exception(at)
    assert "cannot reach the API at http://127.0.0.1:9" in at.error[0].value
    assert "Is the API running?" in at.error[0].value


# --- runs --------------------------------------------------------------------------------------------


def test_runs_table_filters_and_refreshes_while_runs_are_active(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    at = app("viewer")
    assert "No runs yet" in kit.texts(at)

    first = kit.new_run(clients, datasets, model_name="llama-3-8b-qa", experiment_name="baseline")
    second = kit.new_run(clients, datasets)
    kit.move(clients, second, "training")
    third = kit.new_run(clients, datasets)
    kit.move(clients, third, "failed")

    at = app("viewer")
    kit.no_exception(at)
    table = at.dataframe[0].value
    assert list(table["Run"]) == [third, second, first]  # newest first
    assert list(table["Status"]) == ["Failed", "Training", "Pending"]
    assert list(table["Model"]) == ["mistral-7b-rag-qa", "mistral-7b-rag-qa", "llama-3-8b-qa"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Active"] == "2"
    assert at.session_state["runs_page_active"] is True  # the table refreshes itself

    at.multiselect(key="filter_status").set_value(["training", "failed"]).run()
    assert list(at.dataframe[0].value["Run"]) == [third, second]
    at.selectbox(key="filter_model").set_value("llama-3-8b-qa").run()
    assert "No run matches these filters" in kit.texts(at)
    at.multiselect(key="filter_status").set_value([]).run()
    assert list(at.dataframe[0].value["Run"]) == [first]
    at.selectbox(key="filter_model").set_value(None)
    at.selectbox(key="filter_experiment").set_value("baseline").run()
    assert list(at.dataframe[0].value["Run"]) == [first]
    at.selectbox(key="filter_experiment").set_value(None)
    at.selectbox(key="filter_period").set_value("Last 24 hours").run()
    assert len(at.dataframe[0].value) == 3

    # tags, the MLScore range and a date range: filtered by the API
    with clients.as_("operator") as op:
        op.patch(f"/runs/{first}", json={"tags": ["baseline"]})
    with clients.as_("evaluator") as evaluator:
        evaluator.put(f"/runs/{second}/results/evaluation", json={"metrics": {}, "ml_score": 0.81})
        evaluator.put(f"/runs/{third}/results/evaluation", json={"metrics": {}, "ml_score": 0.42})
    at = app("viewer")
    assert list(at.dataframe[0].value["Tags"]) == ["", "", "baseline"]
    scores = at.dataframe[0].value["MLScore"]  # the evaluation's, from GET /runs; none before it
    assert list(scores[:2]) == [0.42, 0.81]
    assert scores.isna().tolist() == [False, False, True]
    at.multiselect(key="filter_tags").set_value(["baseline"]).run()
    assert list(at.dataframe[0].value["Run"]) == [first]
    at.multiselect(key="filter_tags").set_value([])
    at.slider(key="filter_score").set_value((0.5, 1.0)).run()
    assert list(at.dataframe[0].value["Run"]) == [second]
    at.slider(key="filter_score").set_value((0.0, 0.5)).run()
    assert list(at.dataframe[0].value["Run"]) == [third]
    at.slider(key="filter_score").set_value((0.0, 1.0))
    at.selectbox(key="filter_period").set_value("Between dates").run()
    assert len(at.dataframe[0].value) == 3  # the last 7 days up to today
    today = at.date_input(key="filter_dates").value[1]
    at.date_input(key="filter_dates").set_value((today - timedelta(days=30), today - timedelta(days=2))).run()
    kit.no_exception(at)
    assert "No run matches these filters" in kit.texts(at)


# --- launch ------------------------------------------------------------------------------------------


def test_launch_suggests_the_stacks_base_model(
    app, datasets: dict[str, int], kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make dev` passes its offline tiny model's path; a hub id stays the default elsewhere.
    at = app("operator", "views/launch.py")
    assert at.text_input(key="launch_model_id").value == "mistralai/Mistral-7B-v0.1"
    monkeypatch.setenv("DEFAULT_BASE_MODEL", "/work/.local/models/tiny-llm")
    at = app("operator", "views/launch.py")
    kit.no_exception(at)
    assert at.text_input(key="launch_model_id").value == "/work/.local/models/tiny-llm"


def test_launch_shows_api_errors_next_to_the_field_then_launches(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    at = app("operator", "views/launch.py")
    kit.no_exception(at)
    assert at.title[0].value == "Launch a run"
    # defaults and bounds come from the API's schema
    assert at.number_input(key="hp_lora_r").value == 16
    assert at.number_input(key="hp_epochs").max == 50
    assert at.selectbox(key="launch_train").value["id"] == datasets["train"]
    assert at.selectbox(key="launch_eval").value["id"] == datasets["eval"]

    at.text_input(key="launch_model_name").set_value("bad name!")
    at.text_input(key="launch_model_id").set_value("../etc/passwd")
    at.button[0].click().run()  # the form's submit button
    kit.no_exception(at)
    shown = kit.texts(at)
    assert "The API refused the run: check the highlighted fields" in shown
    assert "String should match pattern" in shown  # under Model name
    assert "model_id must be a hub id" in shown  # under Base model id
    with clients.as_("viewer") as viewer:
        assert viewer.get("/runs").json()["items"] == []

    at.text_input(key="launch_model_name").set_value("mistral-7b-rag-qa")
    at.text_input(key="launch_model_id").set_value("mistralai/Mistral-7B-v0.1")
    at.number_input(key="hp_epochs").set_value(2)
    at.slider(key="launch_threshold").set_value(0.75)
    at.button[0].click().run()
    kit.no_exception(at)
    with clients.as_("viewer") as viewer:
        [run] = viewer.get("/runs").json()["items"]
    assert run["hyperparameters"]["epochs"] == 2
    assert run["ml_score_threshold"] == 0.75
    assert run["created_by"].startswith("operator")
    assert f"Run #{run['id']} launched" in kit.texts(at).replace("**", "")
    assert "check the highlighted fields" not in kit.texts(at)

    # evaluate only: no training set, no hyperparameters
    at.button_group(key="launch_task").set_value("eval_only").run()
    assert "launch_train" not in [s.key for s in at.selectbox]
    at.button[0].click().run()
    with clients.as_("viewer") as viewer:
        newest = viewer.get("/runs").json()["items"][0]
    assert (newest["task_type"], newest["train_dataset_id"]) == ("eval_only", None)


def test_launch_is_for_operators(app, datasets: dict[str, int], kit) -> None:
    at = app("viewer", "views/launch.py")
    kit.no_exception(at)
    assert "may not launch runs" in at.warning[0].value
    assert [b.key for b in at.button] == ["sign_out"]


# --- run detail --------------------------------------------------------------------------------------


def test_run_detail_shows_everything_and_an_approver_approves(
    app, clients: Clients, datasets: dict[str, int], kit, signing_key: str, waiting_task: WaitingTask
) -> None:
    model = f"rag-{uuid.uuid4().hex[:6]}"  # the emulator's registry lives for the whole session
    run_id = kit.new_run(clients, datasets, model_name=model)
    kit.move(clients, run_id, "training")
    kit.record_results(clients, run_id)
    kit.move(clients, run_id, "evaluating", "awaiting_approval")
    [package] = kit.registry_group(
        model, [("PendingManualApproval", {"run_id": str(run_id), "lifecycle": "finetuned"})]
    )
    kit.register_approval(clients, run_id, waiting_task.token, package)

    # an operator sees the run but cannot decide
    at = app("operator", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    shown = kit.texts(at)
    assert at.title[0].value == f"Run #{run_id} · {model}"
    assert "An approver decides; your role is **operator**" in shown
    assert not [b for b in at.button if b.key and b.key.startswith("approve_")]

    at = app("approver", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    shown = kit.texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["MLScore"] == "0.824"
    assert metrics["Cost"] == "$0.4332"
    assert metrics["Decision"] == "Pending"
    # timeline: every step with its time and duration
    steps = at.dataframe[0].value
    assert list(steps["Step"]) == [
        "Run created",
        "Training started",
        "Evaluation started",
        "Waiting for approval",
    ]
    assert steps["Duration"].iloc[-1].endswith("so far")
    # charts: MLScore against the threshold, training loss and tokens/s
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(specs) == 3, len(specs)
    assert any('"threshold"' in s and '"rule"' in s for s in specs)  # the threshold line
    assert any("Training loss" in s for s in specs)
    assert any("Tokens per second" in s for s in specs)
    # per-sample results: worst first (the unscored sample on top)
    samples = next(d.value for d in at.dataframe if "Score" in d.value.columns)
    assert samples["Problem"].iloc[0] == "judge timed out"
    assert samples["Score"].iloc[0] == "—"
    scores = [float(v) for v in samples["Score"].iloc[1:]]
    assert scores == sorted(scores)
    # registry and audit trail
    assert "version **1**" in shown
    metadata = next(d.value for d in at.dataframe if list(d.value.columns) == ["Property", "Value"])
    assert dict(zip(metadata["Property"], metadata["Value"], strict=True)) == {
        "lifecycle": "finetuned",
        "run_id": str(run_id),
    }
    audit = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    assert list(audit["Action"]) == ["Requested"]

    # reject needs a comment; approve needs a confirmation
    at.button(key=f"reject_{run_id}").click().run()
    assert "A rejection needs a comment" in kit.texts(at)
    at.button(key=f"approve_{run_id}").click().run()
    assert "This cannot be undone" in at.warning[0].value
    at.button(key=f"cancel_{run_id}").click().run()
    assert not at.warning
    at.text_area(key=f"decision_comment_{run_id}").set_value("scores look right")
    at.button(key=f"approve_{run_id}").click().run()
    at.button(key=f"confirm_{run_id}").click().run()
    kit.no_exception(at)
    assert f"Run #{run_id} approved by approver" in at.success[0].value
    assert at.metric[3].value == "Approved"
    assert "**Approved** by approver" in at.success[1].value
    # the run is still awaiting_approval until the workflow's verdict reaches it; the header says
    # what the decision box says, never "Awaiting approval" beside "Approved"
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges[0] == ":green-badge[:material/verified: Approved]", badges
    assert not any("Awaiting approval" in b for b in badges), badges

    execution = waiting_task.result()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["approved"] is True
    with clients.as_("viewer") as viewer:
        trail = viewer.get(f"/runs/{run_id}/audit").json()
    assert [(e["action"], e["via"], e["comment"]) for e in trail][-1] == (
        "approved",
        "api",  # the server records the route used; the dashboard calls the API's route
        "scores look right",
    )
    audit = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    assert list(audit["Action"]) == ["Requested", "Approved"]


def test_run_detail_of_a_new_run_and_of_a_missing_one(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    run_id = kit.new_run(clients, datasets, task_type="eval_only", train_dataset_id=None)
    at = app("viewer", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    shown = kit.texts(at)
    assert "No evaluation scores yet" in shown
    assert "Evaluation-only run: no training." in shown
    assert "Refreshing every 2 s while the run is active" in shown

    at = app("viewer", "views/run_detail.py", id="999999")
    kit.no_exception(at)
    assert "run 999999 not found" in at.warning[0].value

    at = app("viewer", "views/run_detail.py")
    at.selectbox(key="pick_run").set_value(at.selectbox(key="pick_run").options[0]).run()
    kit.no_exception(at)


# --- datasets ----------------------------------------------------------------------------------------


def test_datasets_upload_with_line_feedback_and_list(app, clients: Clients, kit, clean: None) -> None:
    at = app("operator", "views/datasets.py")
    kit.no_exception(at)
    assert "No dataset yet" in kit.texts(at)

    bad = jsonl(QA_ROW) + b'{"question": "missing the rest"}\nnot json\n'
    at.text_input(key="upload_name").set_value("broken-set")
    at.file_uploader(key="upload_file").set_value(("broken.jsonl", bad, "application/x-ndjson"))
    at.button[0].click().run()
    kit.no_exception(at)
    assert "2 invalid line(s); nothing was stored" in at.error[0].value
    lines = at.dataframe[0].value
    assert list(lines["Line"]) == [2, 3]
    assert all(lines["Problem"].str.len() > 0)

    at.text_input(key="upload_name").set_value("eval-gold")
    at.selectbox(key="upload_kind").set_value("eval")
    at.file_uploader(key="upload_file").set_value(
        ("gold.jsonl", jsonl(EVAL_ROW, EVAL_ROW), "application/x-ndjson")
    )
    at.button[0].click().run()
    kit.no_exception(at)
    assert "eval-gold** stored: 2 rows" in at.success[0].value
    listing = at.dataframe[0].value
    assert list(listing["Name"]) == ["eval-gold"]
    with clients.as_("viewer") as viewer:
        [stored] = viewer.get("/datasets").json()["items"]
    assert listing["SHA-256"].iloc[0] == stored["sha256"][:16] + "…"
    assert listing["Size"].iloc[0].endswith("B")

    viewer = app("viewer", "views/datasets.py")
    assert "may read datasets" in kit.texts(viewer)
    assert not viewer.file_uploader


# --- models ------------------------------------------------------------------------------------------


def test_models_show_versions_status_scores_and_trend(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    run_id = kit.new_run(clients, datasets)
    with clients.as_("evaluator") as svc:
        svc.put(f"/runs/{run_id}/results/evaluation", json={"metrics": {}, "ml_score": 0.83, "passed": True})
    name = f"ui-model-{uuid.uuid4().hex[:6]}"
    kit.registry_group(
        name,
        [
            ("Rejected", {"ml_score": "0.61", "deployment_status": "rejected"}),
            ("Approved", {"run_id": str(run_id), "deployment_status": "go_prod"}),
            ("PendingManualApproval", {"lifecycle": "finetuned"}),
        ],
    )
    at = app("viewer", "views/models.py")
    kit.no_exception(at)
    groups = at.dataframe[0].value
    row = groups[groups["Model"] == name].iloc[0]
    assert (row["Versions"], row["Latest"], row["Approved versions"]) == (3, "v3", 1)

    at.selectbox(key="models_group").set_value(name).run()
    kit.no_exception(at)
    versions = at.dataframe[1].value
    assert list(versions["Version"]) == [3, 2, 1]
    assert list(versions["Status"]) == ["Pending approval", "Approved", "Rejected"]
    assert list(versions["MLScore"].fillna(-1)) == [-1, 0.83, 0.61]
    assert list(versions["Run"]) == ["—", f"#{run_id} · Pending", "—"]
    assert "deployment_status=go_prod" in versions["Metadata"].iloc[1]
    assert at.get("vega_lite_chart"), "the MLScore trend chart"


def test_every_page_renders_for_every_role(app, clients: Clients, datasets: dict[str, int], kit) -> None:
    kit.new_run(clients, datasets)
    pages = [
        "views/runs.py",
        "views/launch.py",
        "views/run_detail.py",
        "views/datasets.py",
        "views/models.py",
        "views/deployments.py",
    ]
    for role in ("viewer", "operator", "approver", "admin"):
        for page in pages:
            at: AppTest = app(role, page)
            kit.no_exception(at)
            assert not at.error, (role, page, [e.value for e in at.error])


def test_an_operator_cancels_an_active_run_after_a_confirmation(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    run_id = kit.new_run(clients, datasets)
    kit.move(clients, run_id, "training")
    cancel_button = f"cancel_run_{run_id}"

    at = app("viewer", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    assert cancel_button not in [b.key for b in at.button]

    at = app("operator", "views/run_detail.py", id=str(run_id))
    at.button(key=cancel_button).click().run()
    assert "Cancel run" in at.warning[0].value
    assert "cannot be undone" in at.warning[0].value
    at.button(key=f"keep_run_{run_id}").click().run()  # changed their mind: nothing happened
    with clients.as_("viewer") as viewer:
        assert viewer.get(f"/runs/{run_id}").json()["status"] == "training"

    at.button(key=cancel_button).click().run()
    at.text_input(key=f"cancel_run_reason_{run_id}").input("wrong base model")
    at.button(key=f"confirm_cancel_run_{run_id}").click().run()
    kit.no_exception(at)
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    assert run["status"] == "cancelled"
    assert run["status_reason"].endswith(": wrong base model")
    assert f"Run #{run_id} cancelled" in at.success[0].value
    assert cancel_button not in [b.key for b in at.button]  # an ended run has no Cancel button


# --- compare -----------------------------------------------------------------------------------------


def test_compare_shows_runs_side_by_side(app, clients: Clients, datasets: dict[str, int], kit) -> None:
    first = kit.new_run(clients, datasets, hyperparameters={"lora_r": 8}, ml_score_threshold=0.7)
    second = kit.new_run(clients, datasets, hyperparameters={"lora_r": 32}, ml_score_threshold=0.8)
    for run_id, score in ((first, 0.74), (second, 0.86)):
        kit.move(clients, run_id, "training")
        kit.record_results(clients, run_id, ml_score=score)
    third = kit.new_run(clients, datasets, task_type="eval_only", train_dataset_id=None)

    at = app("viewer", "views/compare.py")
    kit.no_exception(at)
    assert "Choose at least 2 runs" in kit.texts(at)

    at = app("viewer", "views/compare.py", ids=f"{first},{second}")
    kit.no_exception(at)
    assert at.multiselect(key="compare_runs").value == [first, second]
    settings = at.dataframe[0].value.set_index("Setting")
    assert list(settings.columns) == [f"#{first}", f"#{second}"]
    assert list(settings.loc["lora_r"]) == ["8", "32"]
    assert list(settings.loc["MLScore"]) == ["0.740", "0.860"]
    assert list(settings.loc["MLScore threshold"]) == ["0.70", "0.80"]
    assert list(settings.loc["Evaluation dataset"]) == [f"#{datasets['eval']} eval-set"] * 2
    assert "3 setting(s) differ between the runs (highlighted)." in kit.texts(
        at
    )  # lora_r, MLScore, threshold
    scores = at.dataframe[1].value.set_index("Metric")
    assert list(scores.loc["MLScore"]) == [0.74, 0.86]
    assert list(scores.loc["Faithfulness"]) == [0.91, 0.91]
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(specs) == 3, len(specs)  # the breakdown, loss and tokens/s overlaid
    assert any('"xOffset"' in s and '"threshold"' in s for s in specs)
    assert any("Training loss" in s and f"#{second}" in s for s in specs)
    answers = at.dataframe(key="compare_answers").value
    assert list(answers.columns) == [
        "Question",
        f"#{first} answer",
        f"#{first} score",
        f"#{second} answer",
        f"#{second} score",
    ]
    assert len(answers) == 6
    assert "What does LoRA change in layer" in kit.texts(at)  # the first question, read side by side

    # an evaluation-only run has no curve; at most five runs
    at.multiselect(key="compare_runs").set_value([first, second, third]).run()
    kit.no_exception(at)
    assert at.query_params["ids"] == f"{first},{second},{third}"
    assert f"No training history: #{third}." in kit.texts(at)
    assert at.multiselect(key="compare_runs").max_selections == 5


# --- tags, note and clone --------------------------------------------------------------------------


def test_tags_and_note_are_edited_on_the_run_page(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    run_id = kit.new_run(clients, datasets)
    at = app("viewer", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    assert f"tags_{run_id}" not in [m.key for m in at.multiselect]  # viewers read only

    at = app("approver", "views/run_detail.py", id=str(run_id))
    at.multiselect(key=f"tags_{run_id}").set_value(["baseline", "sweep:lr"])
    at.text_area(key=f"note_{run_id}").set_value("Twice the LoRA rank of the last one")
    next(b for b in at.button if b.label == "Save tags and note").click().run()
    kit.no_exception(at)
    assert f"Saved the tags and note of run #{run_id}." in kit.texts(at)
    assert ":gray-badge[:material/sell: baseline] :gray-badge[:material/sell: sweep:lr]" in kit.texts(at)
    assert "Twice the LoRA rank of the last one" in kit.texts(at)
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    assert (run["tags"], run["note"]) == (["baseline", "sweep:lr"], "Twice the LoRA rank of the last one")
    assert list(at.dataframe[0].value["Step"]) == ["Run created"]  # an edit is no step of the run

    at.multiselect(key=f"tags_{run_id}").set_value(["has space"])
    next(b for b in at.button if b.label == "Save tags and note").click().run()
    assert "The tags and note were not saved" in kit.texts(at)


def test_clone_prefills_the_launch_form_from_a_run(
    app, clients: Clients, datasets: dict[str, int], kit
) -> None:
    source = kit.new_run(
        clients,
        datasets,
        model_name="qwen2-7b-support",
        experiment_name="support-sweep",
        ml_score_threshold=0.76,
        hyperparameters={"lora_r": 8, "learning_rate": 5e-5, "epochs": 2, "qlora": True},
    )
    at = app("operator", "views/run_detail.py", id=str(source))
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    assert "Clone" in links
    viewer_links = [
        link.proto.label for link in app("viewer", "views/run_detail.py", id=str(source)).get("page_link")
    ]
    assert "Compare" in viewer_links
    assert "Clone" not in viewer_links  # viewers launch nothing

    at = app("operator", "views/launch.py", clone=str(source))
    kit.no_exception(at)
    assert f"Prefilled from run **#{source}**" in kit.texts(at)
    assert at.text_input(key="launch_model_name").value == "qwen2-7b-support"
    assert at.text_input(key="launch_experiment").value == "support-sweep"
    assert at.slider(key="launch_threshold").value == 0.76
    assert at.number_input(key="hp_lora_r").value == 8
    assert at.number_input(key="hp_learning_rate").value == 5e-5
    assert at.number_input(key="hp_epochs").value == 2
    assert at.checkbox(key="hp_qlora").value is True
    assert at.selectbox(key="launch_train").value["id"] == datasets["train"]

    at.number_input(key="hp_lora_r").set_value(16)  # the one change being tried
    next(b for b in at.button if b.label == "Launch run").click().run()
    kit.no_exception(at)
    with clients.as_("viewer") as viewer:
        runs = viewer.get("/runs").json()["items"]
    clone, original = runs[0], runs[1]
    assert original["id"] == source
    assert clone["hyperparameters"] == {**original["hyperparameters"], "lora_r": 16}
    for field in (
        "model_name",
        "model_id",
        "task_type",
        "experiment_name",
        "train_dataset_id",
        "eval_dataset_id",
    ):
        assert clone[field] == original[field], field
    assert clone["ml_score_threshold"] == 0.76

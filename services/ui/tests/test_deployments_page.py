"""The Deployments page, run with Streamlit's AppTest against the real API (a server process on a real
PostgreSQL and the strict emulator's model registry). The deployer worker's part is played through
the API's deployer routes, as the worker reports; "try it" asks a real serving process on the tiny
model (`python -m mlops_serving serve`) through the API's invoke route. Nothing is mocked."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from mlops_contracts.aws import aws_client
from mlops_testkit.api import Clients

pytestmark = pytest.mark.usefixtures("clean")

PAGE = "views/deployments.py"
NOWHERE = "http://127.0.0.1:9"  # nothing listens on the discard port


def model_with(kit, *statuses: str) -> tuple[str, list[str]]:
    """A package group with one version per registry status (run ids 101, 102...)."""
    name = f"dep-ui-{uuid.uuid4().hex[:8]}"
    return name, kit.registry_group(name, [(s, {"run_id": str(101 + i)}) for i, s in enumerate(statuses)])


def served(clients: Clients, model: str, version: int, url: str) -> dict[str, Any]:
    """An operator deploys `version`; the deployer reports it in service at `url`."""
    with clients.as_("operator") as op:
        requested = op.post("/deployments", json={"model_name": model, "version": version})
    assert requested.status_code == 202, requested.text
    with clients.as_("deployer") as deployer:
        report = {"status": "in_service", "endpoint_url": url, "variant": f"v{version}"}
        answer = deployer.patch(f"/deployments/{requested.json()['id']}/status", json=report)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def deployments(clients: Clients, model: str) -> dict[str, Any]:
    with clients.as_("viewer") as viewer:
        return dict(viewer.get(f"/models/{model}/deployments").json())


def action_buttons(at, model: str) -> list[str]:
    keys = (f"deploy_{model}", f"rollback_{model}", f"retire_{model}")
    return [b.label for b in at.button if b.key in keys]


def test_no_deployment_yet_then_deploy_the_newest_approved_version(app, clients: Clients, kit) -> None:
    model, _ = model_with(kit, "Approved", "Rejected", "Approved", "PendingManualApproval")

    models = app("viewer", "views/models.py")
    models.selectbox(key="models_group").set_value(model).run()
    [link] = [e.proto for e in models.get("page_link") if e.proto.label == f"Deployments of {model}"]
    assert link.page == "deployments", link.page
    assert link.query_string == f"model={model}"

    viewer = app("viewer", PAGE, model=model)
    kit.no_exception(viewer)
    assert viewer.title[0].value == "Deployments"
    assert viewer.selectbox(key="deployments_model").value == model
    assert f"No deployment of **{model}** is in service" in viewer.info[0].value
    assert f"**{model}** has never been deployed." in kit.texts(viewer)
    assert "Your role (**viewer**) may not deploy, roll back, retire or try a model" in kit.texts(viewer)
    assert action_buttons(viewer, model) == []

    at = app("operator", PAGE, model=model)
    kit.no_exception(at)
    assert action_buttons(at, model) == ["Deploy v3"]  # the newest Approved one, not the pending v4
    at.button(key=f"deploy_{model}").click().run()
    assert f"Deploy **{model}** to v3?" in at.warning[0].value
    at.text_input(key=f"deployment_reason_{model}").set_value("first serve")
    at.button(key=f"confirm_deployment_{model}").click().run()
    kit.no_exception(at)
    assert at.success[0].value == "Deployment #1 of v3 requested: the release workflow is deploying it."
    assert "Deployment #1 of **v3** is deploying (requested by operator" in kit.texts(at)
    assert "Refreshing every 2 s while deployment #1 is deploying." in kit.texts(at)
    assert at.button(key=f"deploy_{model}").disabled  # one deployment at a time
    assert list(at.dataframe[0].value["Status"]) == ["Deploying"]

    [recorded] = deployments(clients, model)["items"]
    assert (recorded["version"], recorded["status"], recorded["reason"]) == (3, "deploying", "first serve")
    assert (recorded["origin"], recorded["run_id"]) == ("api", 103)
    assert recorded["requested_by"].startswith("operator")


def test_roll_back_to_the_previous_approved_version_then_retire(app, clients: Clients, kit) -> None:
    model, arns = model_with(kit, "Approved", "Rejected", "Approved")
    first = served(clients, model, 3, NOWHERE)

    at = app("operator", PAGE, model=model)
    kit.no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Endpoint"], metrics["Package version"], metrics["Deployment"]) == (model, "v3", "#1")
    assert f"Package `{arns[2]}`" in kit.texts(at)
    assert f"Requested by **{first['requested_by']}** through the API" in kit.texts(at)
    assert action_buttons(at, model) == ["Roll back to v1", "Retire"]  # v2 is Rejected: skipped

    at.button(key=f"rollback_{model}").click().run()
    assert f"Roll back **{model}** to v1? The release workflow deploys that approved package (v3 keeps" in (
        at.warning[0].value
    )
    at.button(key=f"cancel_deployment_{model}").click().run()  # changed her mind: nothing asked
    assert not at.warning
    assert len(deployments(clients, model)["items"]) == 1
    at.button(key=f"rollback_{model}").click().run()
    at.text_input(key=f"deployment_reason_{model}").set_value("v3 answers worse")
    at.button(key=f"confirm_deployment_{model}").click().run()
    kit.no_exception(at)
    assert at.success[0].value == "Deployment #2 of v1 requested: the release workflow is deploying it."
    assert at.button(key=f"retire_{model}").disabled  # wait for the rollback to end
    assert {m.label: m.value for m in at.metric}["Package version"] == "v3"  # still serving meanwhile
    rollback = deployments(clients, model)["items"][0]
    assert (rollback["version"], rollback["status"], rollback["reason"]) == (
        1,
        "deploying",
        "v3 answers worse",
    )

    with clients.as_("deployer") as deployer:  # the workflow's deploy passed its smoke test
        deployer.patch(
            f"/deployments/{rollback['id']}/status", json={"status": "in_service", "endpoint_url": NOWHERE}
        )
    at = app("operator", PAGE, model=model)
    kit.no_exception(at)
    assert {m.label: m.value for m in at.metric}["Package version"] == "v1"
    history = at.dataframe[0].value
    assert list(history["Deployment"]) == [rollback["id"], first["id"]]
    assert list(history["Status"]) == ["In service", "Retired"]
    assert list(history["Reason"]) == ["v3 answers worse", f"replaced by deployment {rollback['id']}"]
    assert at.button(key=f"rollback_{model}").disabled  # nothing approved before v1

    at.button(key=f"retire_{model}").click().run()
    assert f"Retire deployment #{rollback['id']} of **{model}**?" in at.warning[0].value
    at.button(key=f"confirm_deployment_{model}").click().run()
    kit.no_exception(at)
    assert at.success[0].value == f"Deployment #{rollback['id']} (v1) is retired."
    assert f"No deployment of **{model}** is in service" in at.info[0].value
    assert action_buttons(at, model) == ["Deploy v3"]
    assert deployments(clients, model)["serving"] is None


def test_the_apis_refusals_are_shown_as_it_words_them(app, clients: Clients, kit) -> None:
    model, arns = model_with(kit, "Approved", "Approved")
    serving = served(clients, model, 2, NOWHERE)

    at = app("operator", PAGE, model=model)
    at.button(key=f"rollback_{model}").click().run()
    # meanwhile v1 is rejected in the registry: the API refuses the rollback with a 409
    aws_client("sagemaker").update_model_package(ModelPackageArn=arns[0], ModelApprovalStatus="Rejected")
    at.button(key=f"confirm_deployment_{model}").click().run()
    kit.no_exception(at)
    assert at.error[0].value == (
        f"Roll back refused: version 1 of '{model}' is Rejected: only an Approved package can be deployed"
    )
    assert len(deployments(clients, model)["items"]) == 1

    # try it, with nothing listening where the deployment says it serves: the API's 503, as it is
    at = app("operator", PAGE, model=model)
    at.text_area(key=f"try_it_question_{serving['id']}").set_value("Where are runs stored?")
    next(b for b in at.button if b.label == "Ask").click().run()
    kit.no_exception(at)
    assert at.error[0].value == "Try it: the endpoint did not answer (ConnectError)"


def test_try_it_asks_the_served_model_through_the_api(app, clients: Clients, kit, served_model: str) -> None:
    model, _ = model_with(kit, "Approved")
    serving = served(clients, model, 1, served_model)

    assert "Try it" not in [h.value for h in app("viewer", PAGE, model=model).subheader]  # deployers only
    at = app("operator", PAGE, model=model)
    kit.no_exception(at)
    assert "Try it" in [h.value for h in at.subheader]
    ask = next(b for b in at.button if b.label == "Ask")
    ask.click().run()
    assert at.warning[0].value == "Write a question first."

    question = "Where are runs stored?"
    at.text_area(key=f"try_it_question_{serving['id']}").set_value(question)
    at.text_area(key=f"try_it_context_{serving['id']}").set_value("Runs are stored in PostgreSQL.")
    at.number_input(key=f"try_it_tokens_{serving['id']}").set_value(12)
    next(b for b in at.button if b.label == "Ask").click().run()
    kit.no_exception(at)
    direct = httpx.post(
        f"{served_model}/invocations",
        json={"question": question, "contexts": ["Runs are stored in PostgreSQL."], "max_new_tokens": 12},
        timeout=60,
    ).json()
    assert [t.value for t in at.text] == [question, direct["answer"]]  # greedy: the same answer
    latency = {m.label: m.value for m in at.metric}["Latency"]
    assert latency.endswith(("ms", " s"))
    assert f"From endpoint `{model}`, deployment #{serving['id']}." in kit.texts(at)

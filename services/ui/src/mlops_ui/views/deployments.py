"""Deployments: what serves each model now, its history, Roll back and Retire, and a "try it" box.

The page only asks the API: a deployment, a rollback (a deployment of an earlier approved version)
or a retirement is recorded by the API and carried out by the release workflow's Deploy stage and
the deployer worker, whose reports move the records shown here (docs/decisions/0001-one-orchestrator.md).
"Try it" sends the question through the API's invoke route, never to the endpoint directly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_ui import ui
from mlops_ui.config import get_settings

FLASH = "deployments_flash"
APPROVED = "Approved"
LINKED = "deployments_linked_model"


def pending_key(model: str) -> str:
    return f"deployment_pending_{model}"


def answer_key(deployment_id: int) -> str:
    return f"try_it_answer_{deployment_id}"


def rollback_target(versions: list[dict[str, Any]], serving: dict[str, Any] | None) -> dict[str, Any] | None:
    """The version a Roll back deploys: the newest approved version older than the one in service."""
    if serving is None:
        return None
    older = [
        v for v in versions if v.get("approval_status") == APPROVED and v["version"] < serving["version"]
    ]
    return max(older, key=lambda v: v["version"]) if older else None


def newest_approved(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    approved = [v for v in versions if v.get("approval_status") == APPROVED]
    return max(approved, key=lambda v: v["version"]) if approved else None


def history_table(items: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "Deployment": d["id"],
            "Version": d["version"],
            "Status": ui.status_text(d["status"], ui.DEPLOYMENT_STATUS),
            "Run": f"#{d['run_id']}" if d.get("run_id") is not None else "—",
            "Endpoint": d["endpoint_name"],
            "Variant": d.get("variant") or "—",
            "Requested by": d["requested_by"],
            "Through": "release" if d["origin"] == "release" else "API",
            "Requested": ui.local_time(d["created_at"]),
            "Ended": ui.local_time(d.get("finished_at")),
            "Reason": d.get("reason") or "",
        }
        for d in items  # newest first, as the API lists them
    ]
    columns = ["Deployment", "Version", "Status", "Run", "Endpoint", "Variant", "Requested by", "Through"]
    return pd.DataFrame(rows, columns=[*columns, "Requested", "Ended", "Reason"])


# --- what serves the model -------------------------------------------------------------------------


def serving_section(model: str, serving: dict[str, Any] | None, deploying: dict[str, Any] | None) -> None:
    st.subheader("In service", anchor=False)
    if serving is None:
        st.info(
            f"No deployment of **{model}** is in service: nothing answers for it yet. A release "
            "deploys its model once the model is approved; an operator can also deploy an approved "
            "version here.",
            icon=":material/cloud_off:",
        )
    else:
        with st.container(border=True):
            ui.badge(serving["status"], ui.DEPLOYMENT_STATUS)
            a, b, c, d = st.columns([3, 2, 2, 2])
            a.metric("Endpoint", serving["endpoint_name"])
            b.metric("Package version", f"v{serving['version']}")
            c.metric("Deployment", f"#{serving['id']}")
            d.metric("In service for", ui.duration(ui.between(serving["updated_at"], None)))
            if serving["origin"] == "release":
                by = serving["requested_by"]
                who = "Deployed by the release workflow" + (f" ({by})" if by != "release workflow" else "")
                who += " after its approval"
            else:
                who = f"Requested by **{serving['requested_by']}** through the API"
            st.caption(
                f"{who} on {ui.when(serving['created_at'])} · in service since {ui.when(serving['updated_at'])}"
                + (f" · variant `{serving['variant']}`" if serving.get("variant") else "")
                + (f" · {serving['reason']}" if serving.get("reason") else "")
            )
            st.caption(f"Package `{serving['model_package_arn']}`")
            if serving.get("run_id") is not None:
                st.page_link(
                    "views/run_detail.py",
                    label=f"Run #{serving['run_id']}",
                    icon=":material/monitoring:",
                    query_params={"id": str(serving["run_id"])},
                )
    if deploying is not None:
        st.info(
            f"Deployment #{deploying['id']} of **v{deploying['version']}** is deploying (requested by "
            f"{deploying['requested_by']} on {ui.when(deploying['created_at'])}"
            + (f": {deploying['reason']}" if deploying.get("reason") else "")
            + "). The version in service keeps answering until the new one passes its smoke test.",
            icon=":material/sync:",
        )


# --- roll back, deploy, retire ---------------------------------------------------------------------


def actions_section(
    client: ApiClient,
    model: str,
    versions: list[dict[str, Any]],
    serving: dict[str, Any] | None,
    deploying: dict[str, Any] | None,
) -> None:
    """Roll back / Deploy / Retire, each behind a confirmation, for the roles that may deploy."""
    if not ui.can(ui.CAN_DEPLOY):
        role = (ui.principal() or {}).get("role", "?")
        st.caption(
            f":material/lock: Your role (**{role}**) may not deploy, roll back, retire or try a model; "
            "an operator or admin can."
        )
        return
    key = pending_key(model)
    pending: dict[str, Any] | None = st.session_state.get(key)
    if pending is not None:
        confirm(client, model, pending, serving)
        return
    busy = "wait for the deployment in progress to end" if deploying else None
    target = rollback_target(versions, serving)
    newest = newest_approved(versions)
    buttons = st.columns([1, 1, 3])
    if serving is not None:
        if target is not None:
            if buttons[0].button(
                f"Roll back to v{target['version']}",
                icon=":material/undo:",
                key=f"rollback_{model}",
                disabled=busy is not None,
                help=busy
                or f"Deploy v{target['version']}, the approved version before v{serving['version']}",
                width="stretch",
            ):
                st.session_state[key] = {"action": "rollback", "version": target["version"]}
                st.rerun()
        else:
            buttons[0].button(
                "Roll back",
                icon=":material/undo:",
                key=f"rollback_{model}",
                disabled=True,
                help=f"No approved version older than v{serving['version']} to roll back to",
                width="stretch",
            )
        if buttons[1].button(
            "Retire",
            icon=":material/cloud_off:",
            key=f"retire_{model}",
            disabled=busy is not None,
            width="stretch",
        ):
            st.session_state[key] = {"action": "retire", "deployment_id": serving["id"]}
            st.rerun()
    elif newest is not None:
        if buttons[0].button(
            f"Deploy v{newest['version']}",
            icon=":material/rocket_launch:",
            type="primary",
            key=f"deploy_{model}",
            disabled=busy is not None,
            help=busy or "The newest approved version",
            width="stretch",
        ):
            st.session_state[key] = {"action": "deploy", "version": newest["version"]}
            st.rerun()
    else:
        st.caption(f"**{model}** has no approved version to deploy: a version is deployable once approved.")


def confirm(client: ApiClient, model: str, pending: dict[str, Any], serving: dict[str, Any] | None) -> None:
    action = pending["action"]
    with st.container(border=True):
        if action == "retire":
            st.warning(
                f"Retire deployment #{pending['deployment_id']} of **{model}**? Its endpoint stops answering "
                "and nothing serves the model until a version is deployed again.",
                icon=":material/warning:",
            )
        else:
            current = (
                f" (v{serving['version']} keeps serving until it passes its smoke test)" if serving else ""
            )
            verb = "Roll back" if action == "rollback" else "Deploy"
            st.warning(
                f"{verb} **{model}** to v{pending['version']}? The release workflow deploys that approved "
                f"package{current}; a failed deployment or smoke test leaves the previous one in service.",
                icon=":material/warning:",
            )
        reason = (
            st.text_input("Reason", key=f"deployment_reason_{model}", max_chars=1000)
            if action != "retire"
            else ""
        )
        labels = {"retire": "Confirm retire", "rollback": "Confirm roll back", "deploy": "Confirm deploy"}
        yes, no, _ = st.columns([1, 1, 4])
        confirmed = yes.button(
            labels[action], type="primary", key=f"confirm_deployment_{model}", width="stretch"
        )
        if no.button("Cancel", key=f"cancel_deployment_{model}", width="stretch"):
            st.session_state.pop(pending_key(model), None)
            st.rerun()
    if not confirmed:
        return
    st.session_state.pop(pending_key(model), None)
    try:
        with st.spinner("Asking the API…"):
            if action == "retire":
                done = client.retire_deployment(pending["deployment_id"])
                message = f"Deployment #{done['id']} (v{done['version']}) is {ui.status_text(done['status'], ui.DEPLOYMENT_STATUS).lower()}."
            else:
                done = client.deploy(model, pending["version"], reason.strip() or None)
                message = (
                    f"Deployment #{done['id']} of v{done['version']} requested: the release workflow is "
                    "deploying it."
                )
    except ApiError as exc:  # the API's own words (a 409 says why)
        ui.show_error(exc, "Roll back refused" if action == "rollback" else f"{action.capitalize()} refused")
        return
    st.session_state[FLASH] = message
    st.rerun()


# --- try it ----------------------------------------------------------------------------------------


def try_it_section(client: ApiClient, serving: dict[str, Any]) -> None:
    """One question through the API's invoke route to the endpoint in service: the answer and the
    latency the API measured around the endpoint's call."""
    if not ui.can(ui.CAN_DEPLOY):  # the invoke route is the deployers' (it costs endpoint time)
        return
    st.subheader("Try it", anchor=False)
    deployment_id = serving["id"]
    with st.form(f"try_it_{deployment_id}", border=True):
        question = st.text_area("Question", key=f"try_it_question_{deployment_id}", max_chars=4000)
        context = st.text_area(
            "Context (optional)",
            key=f"try_it_context_{deployment_id}",
            max_chars=4000,
            help="A passage the answer should draw on, as the evaluation's questions carry",
        )
        tokens = st.number_input(
            "Max new tokens", min_value=1, max_value=512, value=64, key=f"try_it_tokens_{deployment_id}"
        )
        asked = st.form_submit_button("Ask", icon=":material/send:", type="primary")
    if asked:
        if not question.strip():
            st.warning("Write a question first.", icon=":material/edit:")
            return
        try:
            with st.spinner(f"Asking {serving['endpoint_name']}…"):
                reply = client.invoke_deployment(
                    deployment_id,
                    question.strip(),
                    contexts=[context.strip()] if context.strip() else [],
                    max_new_tokens=int(tokens),
                )
        except ApiError as exc:
            st.session_state.pop(answer_key(deployment_id), None)
            ui.show_error(exc, "Try it")  # the API's words: a 503 names what the endpoint did
            return
        st.session_state[answer_key(deployment_id)] = {"question": question.strip(), **reply}
    shown = st.session_state.get(answer_key(deployment_id))
    if shown:
        with st.container(border=True):
            left, right = st.columns([4, 1])
            left.markdown("**Question:**")
            left.text(shown["question"])
            left.markdown("**Answer:**")
            left.text(shown["answer"])  # the model's words as they are, not read as markdown
            right.metric("Latency", ui.duration(shown["latency_ms"] / 1000))
            st.caption(f"From endpoint `{shown['endpoint_name']}`, deployment #{shown['deployment_id']}.")


# --- the page --------------------------------------------------------------------------------------


def pick_model(client: ApiClient) -> str | None:
    with ui.reported("Cannot read the model registry"):
        groups = client.list_models()
    if not groups:
        st.info(
            "The registry has no model yet: a run registers its model after training, and an approved "
            "version can then be deployed.",
            icon=":material/inventory_2:",
        )
        return None
    names = [g["name"] for g in groups]
    wanted = st.query_params.get("model")  # a link's model (the Models page's), chosen once per link
    if wanted in names and st.session_state.get(LINKED) != wanted:
        st.session_state[LINKED] = wanted
        st.session_state["deployments_model"] = wanted
    pick, _ = st.columns([1, 2])
    chosen: str | None = pick.selectbox("Model", names, index=0, key="deployments_model")
    return chosen


def render() -> None:
    ui.page_header(
        "Deployments",
        "Which approved package version serves each model. Deploying, rolling back and retiring go "
        "through the release workflow; this page shows what the deployer reports.",
    )
    client = ui.client()
    model = pick_model(client)
    if model is None:
        return
    with ui.reported(f"Cannot read the deployments of {model}"):
        listing = client.deployments(model)
        versions = client.model_versions(model)["items"]
    items: list[dict[str, Any]] = listing["items"]
    serving: dict[str, Any] | None = listing.get("serving")
    deploying = next((d for d in items if d["status"] == "deploying"), None)
    if flash := st.session_state.pop(FLASH, None):
        st.success(flash, icon=":material/check_circle:")

    serving_section(model, serving, deploying)
    actions_section(client, model, versions, serving, deploying)
    if serving is not None:
        try_it_section(client, serving)

    st.subheader("History", anchor=False)
    if not items:
        st.caption(f"**{model}** has never been deployed.")
    else:
        st.dataframe(
            ui.styled(history_table(items), ["Status"], ui.DEPLOYMENT_STATUS),
            hide_index=True,
            width="stretch",
            placeholder="—",
            column_config={
                "Deployment": st.column_config.NumberColumn("Deployment", format="#%d", width=90),
                "Version": st.column_config.NumberColumn("Version", format="v%d", width=70),
                "Status": st.column_config.TextColumn("Status", width=100),
                "Run": st.column_config.TextColumn("Run", width=60),
                "Variant": st.column_config.TextColumn("Variant", width=70),
                "Through": st.column_config.TextColumn("Through", width=70),
                "Requested": st.column_config.DatetimeColumn(
                    "Requested", format="MMM D, HH:mm:ss", width=120
                ),
                "Ended": st.column_config.DatetimeColumn("Ended", format="MMM D, HH:mm:ss", width=120),
                "Reason": st.column_config.TextColumn("Reason", width=300),
            },
        )

    if deploying is not None:
        watch(client, model, deploying["id"])


def watch(client: ApiClient, model: str, deployment_id: int) -> None:
    """While a deployment is deploying, check it every few seconds and reload the page when it ends."""
    refresh = get_settings().refresh_seconds

    @st.fragment(run_every=refresh)
    def poll() -> None:
        try:
            listing = client.deployments(model, limit=20)
        except ApiError as exc:  # shown; the next refresh tries again
            ui.show_error(exc, "Cannot refresh the deployments")
            return
        current = next((d for d in listing["items"] if d["id"] == deployment_id), None)
        if current is None or current["status"] != "deploying":
            st.rerun()
        st.caption(f"Refreshing every {refresh:g} s while deployment #{deployment_id} is deploying.")

    poll()


render()

"""The dashboard's entry point: `streamlit run app.py` (or `python -m mlops_ui`).

People are signed in by the load balancer; the dashboard passes their signed identity on to the API
(checked with GET /me) and every page talks to the API as that person. `make dev` also offers an
API key (sign_in.py). Every page is registered before sign-in, so a deep link (e.g. `/run?id=42`
from a Teams card) lands on its page once the person is accepted.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from mlops_contracts.api_client import ApiError
from mlops_ui import sign_in, ui
from mlops_ui.config import get_settings

VIEWS = Path(__file__).parent / "views"

st.set_page_config(
    page_title="MLOps release platform",
    page_icon=":material/rocket_launch:",
    layout="wide",
    initial_sidebar_state="expanded",
)

pages = {
    "Runs": [
        st.Page(VIEWS / "runs.py", title="Runs", icon=":material/list_alt:", url_path="runs", default=True),
        st.Page(VIEWS / "launch.py", title="Launch", icon=":material/rocket_launch:", url_path="launch"),
        st.Page(VIEWS / "run_detail.py", title="Run detail", icon=":material/monitoring:", url_path="run"),
        st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    ],
    "Assets": [
        st.Page(VIEWS / "datasets.py", title="Datasets", icon=":material/dataset:", url_path="datasets"),
        st.Page(VIEWS / "models.py", title="Models", icon=":material/deployed_code:", url_path="models"),
        st.Page(
            VIEWS / "deployments.py",
            title="Deployments",
            icon=":material/cloud_done:",
            url_path="deployments",
        ),
    ],
}

ui.page_style()
refused: ApiError | None = None
identity = None if st.session_state.get(ui.KEY) else ui.presented_identity()
if identity is not None:
    try:
        ui.sign_in_person(identity)  # the person the load balancer signed in, as the API verifies it
    except ApiError as exc:
        ui.sign_out()
        refused = exc
me = ui.principal()
if me is None:
    st.navigation(pages, position="hidden")
    sign_in.render(refused)
else:
    with st.sidebar:
        st.markdown(f"Signed in as **{me['name']}**")
        st.badge(me["role"], icon=":material/badge:", color="blue")
        st.caption(f"API: {get_settings().api_url}")
        if identity is None and st.button("Sign out", icon=":material/logout:", key="sign_out"):
            ui.sign_out()  # an API key's session (`make dev`); a person signs out at the identity provider
            st.rerun()
        if identity is not None and get_settings().sign_in_url:
            st.markdown(f"[Switch user]({get_settings().sign_in_url})")  # `make dev`'s sign-in page
    st.navigation(pages).run()

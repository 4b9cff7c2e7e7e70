"""The sign-in form: an API key, checked with the API (GET /me)."""

from __future__ import annotations

import streamlit as st

from mlops_contracts.api_client import ApiError
from mlops_ui import ui
from mlops_ui.config import get_settings


def render() -> None:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/rocket_launch: MLOps release platform", anchor=False)
        st.caption("Launch, follow, understand and approve LLM fine-tuning and evaluation runs.")
        with st.form("sign_in", border=True):
            st.markdown("#### Sign in")
            key = st.text_input(
                "API key",
                type="password",
                placeholder="mlk_…",
                help="A key created by an admin (`mlops-api create-key`); `make dev` prints one.",
                key="sign_in_key",
            )
            submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
        st.caption(f"API: {get_settings().api_url}")
        if submitted:
            if not key.strip():
                st.error("Enter an API key.", icon=":material/key:")
                return
            try:
                with st.spinner("Checking the key with the API…"):
                    ui.sign_in(key.strip())
            except ApiError as exc:
                if exc.status_code == 401:
                    st.error(
                        "This API key was not accepted: it is unknown or revoked.", icon=":material/key_off:"
                    )
                else:
                    ui.show_error(exc, "Cannot sign in")
                return
            st.rerun()
